/**
 * Server reflection (grpc.reflection v1 and v1alpha), so grpcurl and `buf curl` can list, describe
 * and call every method and decode every type that travels in a google.protobuf.Any.
 *
 * Reflection serves the files of FileDescriptorSets as they were built: longrun's own set comes
 * from `buf build` (scripts/gen.mjs, DESCRIPTOR_SET_PATH); an embedding app's set may come from its
 * own build, or from `descriptorSetFromProtoFiles` at run time.
 *
 * Why not proto-loader's definitions as they are: proto-loader re-derives file descriptors through
 * protobufjs, which merges each package into one file without imports and renames map entry
 * messages (`Metadata` where protoc says `MetadataEntry`). Go's protodesc, used by buf curl and
 * grpcurl, rejects those: buf curl said "failed to find service named ... in schema".
 * (@grpc/reflection still re-encodes each file, which drops custom options such as google.api.http
 * from what it serves; clients do not need them to call methods.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import protobuf from 'protobufjs';
import { LOADER_OPTIONS, PROTO_DIR } from '../protos/paths.js';

export interface ReflectionOptions {
  /**
   * Fully-qualified names of the services to list (default: every service in the sets). Types of
   * unlisted services can still be looked up by symbol.
   */
  services?: readonly string[];
}

/**
 * Serves reflection over the union of `descriptorSets` (serialized google.protobuf.FileDescriptorSet).
 * Files are de-duplicated by name and the first set wins, so pass longrun's set
 * (`readFileSync(DESCRIPTOR_SET_PATH)`) first. Throws if a type referenced by a file is in none.
 */
export function addReflection(server: Pick<Server, 'addService'>, descriptorSets: readonly Uint8Array[], options: ReflectionOptions = {}): void {
  const files = new Map<string, Uint8Array>();
  for (const set of descriptorSets) {
    for (const file of filesOfSet(set)) {
      const name = fileName(file);
      if (!files.has(name)) files.set(name, file);
    }
  }
  // Loading the union checks that every reference resolves, so a missing import fails here, at
  // startup, instead of later in a client.
  const definition = loadFileDescriptorSetFromBuffer(Buffer.from(encodeSet(files.values())), LOADER_OPTIONS);
  // @grpc/reflection reads only the definitions' fileDescriptorProtos; give it the files as built.
  const asBuilt = [...files.values()].map((file) => Buffer.from(file.buffer, file.byteOffset, file.byteLength));
  for (const entry of Object.values(definition)) {
    if (isTypeDefinition(entry)) entry.fileDescriptorProtos = asBuilt;
  }
  const reflection = new ReflectionService(definition, options.services === undefined ? undefined : { services: [...options.services] });
  reflection.addToServer(server);
}

/**
 * Describes .proto files at run time (protobufjs; no buf or protoc needed) as a serialized
 * FileDescriptorSet, for `addReflection`. `files` are paths relative to one of `includeDirs`
 * (longrun's proto/ is searched too), as they would be imported. The set holds them and every file
 * they import, except google/protobuf/* (longrun's set has the well-known types) and any file whose
 * name is already in `known` (e.g. longrun's set, to leave out what it describes better).
 * Custom options (google.api.http, operation_info...) are kept when their extension is imported.
 * Files using protobuf editions are not supported; build those with buf or protoc instead.
 */
export function descriptorSetFromProtoFiles(files: readonly string[], includeDirs: readonly string[], known?: Uint8Array): Uint8Array {
  const skip = new Set(known === undefined ? [] : filesOfSet(known).map(fileName));
  const { root, names } = loadRoot(files, includeDirs);
  const describer = new Describer(root);
  const described: Record<string, unknown>[] = [];
  for (const [path, name] of names) {
    if (name.startsWith('google/protobuf/') || skip.has(name)) continue;
    described.push(describer.file(path, name));
  }
  const FileDescriptorSet = root.lookupType('google.protobuf.FileDescriptorSet');
  return FileDescriptorSet.encode(FileDescriptorSet.fromObject(fieldNamesOf({ file: described }, FileDescriptorSet) as Plain)).finish();
}

/**
 * Describes grpc.health.v1 from grpc-health-check's own health.proto, so servers that serve the
 * standard health service can make it callable through reflection too.
 */
export function healthDescriptorSet(): Uint8Array {
  const dir = join(dirname(createRequire(import.meta.url).resolve('grpc-health-check/package.json')), 'proto');
  return descriptorSetFromProtoFiles(['health/v1/health.proto'], [dir]);
}

// --- FileDescriptorSet bytes --------------------------------------------------------------------

const LENGTH_DELIMITED = 2;

/** The serialized FileDescriptorProtos of a set (field 1), untouched. */
function filesOfSet(set: Uint8Array): Uint8Array[] {
  const reader = protobuf.Reader.create(set);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) files.push(reader.bytes());
    else reader.skipType(tag & 7);
  }
  return files;
}

/** FileDescriptorProto.name (field 1). */
function fileName(file: Uint8Array): string {
  const reader = protobuf.Reader.create(file);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) return reader.string();
    reader.skipType(tag & 7);
  }
  throw new Error('a FileDescriptorProto in the descriptor set has no name');
}

/** A serialized FileDescriptorSet of serialized FileDescriptorProtos. */
export function encodeSet(files: Iterable<Uint8Array>): Uint8Array {
  const writer = protobuf.Writer.create();
  for (const file of files) writer.uint32((1 << 3) | LENGTH_DELIMITED).bytes(file);
  return writer.finish();
}

type Definition = PackageDefinition[string];

function isTypeDefinition(entry: Definition): entry is Extract<Definition, { fileDescriptorProtos: Buffer[] }> {
  return 'format' in entry && Array.isArray(entry['fileDescriptorProtos']);
}

// --- Describing .proto files with protobufjs ----------------------------------------------------
//
// Why our own compiler from protobufjs objects to FileDescriptorProto, rather than a library:
// - protobufjs 7.x's own `protobufjs/ext/descriptor` (`root.toDescriptor('proto3')`), on these very
//   files (sleeper.proto, image_annotator.proto, an app's widgets.proto, error_details.proto):
//   makes one file per package named after it (`longrun_testing_v1.proto`, `google_api.proto`)
//   with no `dependency` at all, where protoc and buf make one per .proto file with its imports;
//   drops custom options (`(google.api.http)`, `(google.longrunning.operation_info)` come out as
//   `{}`), since it keeps only options whose names are fields of the options message; leaves
//   `json_name` unset; names map entries after the field (`Metadata` for ErrorInfo.metadata, where
//   protoc says `MetadataEntry`); and writes type names relative (`InputConfig`, not
//   `.google.cloud.vision.v1.InputConfig`). Served by reflection, `buf curl` answers
//   `failed to find service named "longrun.testing.v1.Sleeper" in schema`.
//   test/protos/reflection.test.ts checks these facts, so it fails once protobufjs gets them right.
// - proto-loader derives descriptors through protobufjs too, with the same faults (see the top).
// - A descriptor set built with buf or protoc is what longrun serves for its own protos
//   (DESCRIPTOR_SET_PATH), but an embedding app gives .proto files at run time, and neither tool is
//   a run-time dependency (`protoc` on npm ships a native binary per platform; @bufbuild/protocompile
//   0.0.1 runs `buf build`, for tests).
// The output is checked field for field against `buf build` of longrun's protos and of an app's
// (maps, oneofs, proto3 optional, reserved ranges, nested types, custom options, json_name).

const PROTOBUFJS_DIR = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));

/** Loads `files` with field names as written; `names` maps each loaded file's path to its import name. */
function loadRoot(files: readonly string[], includeDirs: readonly string[]): { root: protobuf.Root; names: Map<string, string> } {
  const dirs = [...includeDirs, PROTO_DIR, PROTOBUFJS_DIR];
  const names = new Map<string, string>();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) {
      const dir = dirs.find((d) => target.startsWith(d + sep));
      names.set(target, dir === undefined ? target : relative(dir, target).split(sep).join('/'));
      return target;
    }
    for (const dir of dirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) {
        names.set(candidate, target);
        return candidate;
      }
    }
    return target; // not found: protobufjs reports it
  };
  // descriptor.proto gives the option messages that custom options are encoded into.
  root.loadSync(['google/protobuf/descriptor.proto', ...files], { keepCase: true });
  root.resolveAll();
  return { root, names };
}

const SCALAR_TYPES: Readonly<Record<string, string>> = {
  double: 'TYPE_DOUBLE', float: 'TYPE_FLOAT', int64: 'TYPE_INT64', uint64: 'TYPE_UINT64', int32: 'TYPE_INT32',
  fixed64: 'TYPE_FIXED64', fixed32: 'TYPE_FIXED32', bool: 'TYPE_BOOL', string: 'TYPE_STRING', bytes: 'TYPE_BYTES',
  uint32: 'TYPE_UINT32', sfixed32: 'TYPE_SFIXED32', sfixed64: 'TYPE_SFIXED64', sint32: 'TYPE_SINT32', sint64: 'TYPE_SINT64',
};

/** protobufjs stores ranges inclusive; this is the largest field number. */
const MAX_FIELD_NUMBER = 0x1fffffff;

type Plain = Record<string, unknown>;

/** With options as protobufjs keeps them on every reflection object. */
interface WithOptions {
  options?: Plain | undefined;
  parsedOptions?: unknown;
}

/** Turns protobufjs reflection objects into google.protobuf descriptor objects (snake_case keys). */
class Describer {
  constructor(private readonly root: protobuf.Root) {}

  file(path: string, name: string): Plain {
    const source = readFileSync(path, 'utf8');
    if (/^\s*edition\s*=/m.test(source)) throw new Error(`${name} uses protobuf editions, which descriptorSetFromProtoFiles does not support`);
    const syntax = /^\s*syntax\s*=\s*["'](proto[23])["']/m.exec(source)?.[1] ?? 'proto2';
    const parsed = protobuf.parse(source, { keepCase: true });
    const ns = parsed.package === undefined ? parsed.root : parsed.root.lookup(parsed.package);
    const imports = parsed.imports ?? [];
    const weak = parsed.weakImports ?? [];
    const publicImports = [...source.matchAll(/^\s*import\s+public\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
    const dependency = [...imports, ...weak];
    const top = this.definitionsOf(path);
    return {
      name,
      package: parsed.package,
      dependency,
      public_dependency: publicImports.map((p) => dependency.indexOf(p)).filter((i) => i >= 0),
      weak_dependency: weak.map((w) => dependency.indexOf(w)),
      message_type: top.filter((o): o is protobuf.Type => o instanceof protobuf.Type).map((t) => this.message(t, syntax)),
      enum_type: top.filter((o): o is protobuf.Enum => o instanceof protobuf.Enum).map((e) => this.enum(e)),
      service: top.filter((o): o is protobuf.Service => o instanceof protobuf.Service).map((s) => this.service(s)),
      extension: top.filter((o): o is protobuf.Field => o instanceof protobuf.Field).map((f) => this.field(f, [], syntax)),
      options: ns === null ? undefined : this.options('FileOptions', ns),
      syntax: syntax === 'proto2' ? undefined : syntax,
    };
  }

  /** The top-level messages, enums, services and extensions declared in the file at `path`. */
  private definitionsOf(path: string): protobuf.ReflectionObject[] {
    const found: protobuf.ReflectionObject[] = [];
    const visit = (ns: protobuf.NamespaceBase): void => {
      for (const object of ns.nestedArray) {
        if (object instanceof protobuf.Type || object instanceof protobuf.Enum || object instanceof protobuf.Service || object instanceof protobuf.Field) {
          if (object.filename === path) found.push(object);
        } else if (object instanceof protobuf.Namespace) {
          visit(object);
        }
      }
    };
    visit(this.root);
    return found;
  }

  private message(type: protobuf.Type, syntax: string): Plain {
    // Synthetic oneofs (proto3 `optional`) must follow the real ones.
    const synthetic = (oneof: protobuf.OneOf): boolean => oneof.fieldsArray.some((f) => f.options?.['proto3_optional'] === true);
    const oneofs = [...type.oneofsArray.filter((o) => !synthetic(o)), ...type.oneofsArray.filter(synthetic)];
    const mapEntries: Plain[] = [];
    const fields = type.fieldsArray.map((field) => {
      if (field instanceof protobuf.MapField) mapEntries.push(this.mapEntry(field));
      return this.field(field, oneofs, syntax);
    });
    const nested = type.nestedArray;
    return {
      name: type.name,
      field: fields,
      nested_type: [...nested.filter((o): o is protobuf.Type => o instanceof protobuf.Type).map((t) => this.message(t, syntax)), ...mapEntries],
      enum_type: nested.filter((o): o is protobuf.Enum => o instanceof protobuf.Enum).map((e) => this.enum(e)),
      extension: nested.filter((o): o is protobuf.Field => o instanceof protobuf.Field).map((f) => this.field(f, [], syntax)),
      oneof_decl: oneofs.map((oneof) => ({ name: oneof.name, options: this.options('OneofOptions', oneof) })),
      extension_range: (type.extensions ?? []).map(([start, end]) => ({ start, end: Math.min(end!, MAX_FIELD_NUMBER) + 1 })),
      reserved_range: (type.reserved ?? []).filter((r): r is number[] => Array.isArray(r)).map(([start, end]) => ({ start, end: Math.min(end!, MAX_FIELD_NUMBER) + 1 })),
      reserved_name: (type.reserved ?? []).filter((r): r is string => typeof r === 'string'),
      options: this.options('MessageOptions', type),
    };
  }

  private field(field: protobuf.Field, oneofs: readonly protobuf.OneOf[], syntax: string): Plain {
    const isMap = field instanceof protobuf.MapField;
    const resolved = field.resolvedType;
    const described: Plain = {
      name: field.name,
      number: field.id,
      label: field.repeated || isMap ? 'LABEL_REPEATED' : field.required ? 'LABEL_REQUIRED' : 'LABEL_OPTIONAL',
      type: isMap ? 'TYPE_MESSAGE' : resolved instanceof protobuf.Enum ? 'TYPE_ENUM' : resolved instanceof protobuf.Type ? 'TYPE_MESSAGE' : scalarType(field),
      json_name: (field.options?.['json_name'] as string | undefined) ?? jsonName(field.name),
      options: this.options('FieldOptions', field),
    };
    if (isMap) described['type_name'] = `${field.parent!.fullName}.${mapEntryName(field.name)}`;
    else if (resolved) described['type_name'] = resolved.fullName;
    if (field.extend !== undefined) {
      const extended = field.extensionField?.parent;
      if (!(extended instanceof protobuf.Type)) throw new Error(`extension ${field.fullName}: cannot resolve ${field.extend}`);
      described['extendee'] = extended.fullName;
    }
    if (field.partOf) described['oneof_index'] = oneofs.indexOf(field.partOf);
    if (field.options?.['proto3_optional'] === true) described['proto3_optional'] = true;
    const defaultValue = field.options?.['default'];
    if (syntax === 'proto2' && defaultValue !== undefined) described['default_value'] = String(defaultValue);
    return described;
  }

  private mapEntry(field: protobuf.MapField): Plain {
    const value = field.resolvedType;
    return {
      name: mapEntryName(field.name),
      field: [
        { name: 'key', number: 1, label: 'LABEL_OPTIONAL', type: SCALAR_TYPES[field.keyType], json_name: 'key' },
        {
          name: 'value',
          number: 2,
          label: 'LABEL_OPTIONAL',
          type: value instanceof protobuf.Enum ? 'TYPE_ENUM' : value instanceof protobuf.Type ? 'TYPE_MESSAGE' : scalarType(field),
          ...(value && { type_name: value.fullName }),
          json_name: 'value',
        },
      ],
      options: { map_entry: true },
    };
  }

  private enum(enumType: protobuf.Enum): Plain {
    return {
      name: enumType.name,
      value: Object.entries(enumType.values).map(([name, number]) => ({
        name,
        number,
        options: this.options('EnumValueOptions', { options: enumType.valuesOptions?.[name] }),
      })),
      // Enum reserved ranges are inclusive in descriptors too.
      reserved_range: (enumType.reserved ?? []).filter((r): r is number[] => Array.isArray(r)).map(([start, end]) => ({ start, end })),
      reserved_name: (enumType.reserved ?? []).filter((r): r is string => typeof r === 'string'),
      options: this.options('EnumOptions', enumType),
    };
  }

  private service(service: protobuf.Service): Plain {
    return {
      name: service.name,
      method: service.methodsArray.map((method) => {
        method.resolve();
        return {
          name: method.name,
          input_type: method.resolvedRequestType!.fullName,
          output_type: method.resolvedResponseType!.fullName,
          client_streaming: method.requestStream === true ? true : undefined,
          server_streaming: method.responseStream === true ? true : undefined,
          options: this.options('MethodOptions', method),
        };
      }),
      options: this.options('ServiceOptions', service),
    };
  }

  /**
   * The google.protobuf.<optionsType> of an object: plain options (deprecated, packed,
   * java_package...) and custom ones such as `(google.api.http)`, encoded through the extension
   * fields that protobufjs adds to the options message once the extension's file is loaded.
   */
  private options(optionsType: string, object: WithOptions): Plain | undefined {
    const type = this.root.lookupType(`google.protobuf.${optionsType}`);
    const out: Plain = {};
    for (const [key, value] of Object.entries(object.options ?? {})) {
      if (!key.startsWith('(') && (type.fields[key] ?? type.fields[jsonName(key)]) !== undefined) out[key] = value;
    }
    const parsed = (object.parsedOptions as Plain[] | undefined) ?? customOptionsOf(object.options);
    for (const entry of parsed) {
      for (const [key, value] of Object.entries(entry)) {
        const match = /^\(([^)]+)\)(?:\.(.+))?$/.exec(key);
        if (match === null) continue;
        const extension = type.fieldsArray.find((f) => {
          const declared = f.declaringField?.fullName;
          return declared !== undefined && (declared === `.${match[1]}` || declared.endsWith(`.${match[1]}`));
        });
        if (extension === undefined) continue; // its extension is not loaded, so it cannot be encoded
        let shaped = conform(value, extension.resolvedType);
        for (const part of (match[2] ?? '').split('.').filter(Boolean).reverse()) shaped = { [part]: shaped };
        const previous = out[extension.name];
        if (extension.repeated) out[extension.name] = [...((previous as unknown[] | undefined) ?? []), shaped];
        else out[extension.name] = match[2] === undefined ? shaped : deepMerge(previous, shaped);
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
}

/** Enum value options arrive flattened (`{'(foo)': 1}`), without parsedOptions. */
function customOptionsOf(options: Plain | undefined): Plain[] {
  return Object.entries(options ?? {})
    .filter(([key]) => key.startsWith('('))
    .map(([key, value]) => ({ [key]: value }));
}

/** Wraps single values given for repeated fields (`additional_bindings { ... }` once) in lists. */
function conform(value: unknown, type: protobuf.Type | protobuf.Enum | null): unknown {
  if (!(type instanceof protobuf.Type) || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Plain = {};
  for (const [key, inner] of Object.entries(value)) {
    const field = type.fields[key];
    if (field === undefined) {
      out[key] = inner;
      continue;
    }
    const items = field.repeated && !Array.isArray(inner) ? [inner] : inner;
    out[key] = Array.isArray(items) ? items.map((item) => conform(item, field.resolvedType)) : conform(items, field.resolvedType);
  }
  return out;
}

/**
 * Renames snake_case keys to the field names of `type`. The descriptor types may be camelCase:
 * proto-loader registers protobufjs's bundled descriptor.json as the source of
 * google/protobuf/descriptor.proto, and that JSON names fields in camelCase.
 */
function fieldNamesOf(value: unknown, type: protobuf.Type | protobuf.Enum | null): unknown {
  if (Array.isArray(value)) return value.map((item) => fieldNamesOf(item, type));
  if (!(type instanceof protobuf.Type) || value === null || typeof value !== 'object') return value;
  const out: Plain = {};
  for (const [key, inner] of Object.entries(value)) {
    const field = type.fields[key] ?? type.fields[jsonName(key)];
    if (field === undefined) throw new Error(`internal: ${type.fullName} has no field ${key}`);
    out[field.name] = fieldNamesOf(inner, field.resolvedType);
  }
  return out;
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (a === null || typeof a !== 'object' || b === null || typeof b !== 'object') return b;
  const out: Plain = { ...(a as Plain) };
  for (const [key, value] of Object.entries(b)) out[key] = deepMerge(out[key], value);
  return out;
}

function scalarType(field: { type: string; fullName: string }): string {
  const type = SCALAR_TYPES[field.type];
  if (type === undefined) throw new Error(`field ${field.fullName}: cannot describe type ${field.type}`);
  return type;
}

/** protoc's default JSON name: `page_size` -> `pageSize` (ToJsonName). */
function jsonName(name: string): string {
  let out = '';
  let upper = false;
  for (const c of name) {
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

/** protoc's map entry message name: `by_name` -> `ByNameEntry` (MapEntryName). */
function mapEntryName(name: string): string {
  let out = '';
  let upper = true;
  for (const c of name) {
    if (c === '_') upper = true;
    else {
      out += upper && c >= 'a' && c <= 'z' ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return `${out}Entry`;
}
