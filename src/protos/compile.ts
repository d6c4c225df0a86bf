/**
 * The .proto compiler: describes an app's `protoFiles` at run time as a serialized
 * FileDescriptorSet, the form every runtime is then fed from (src/protos/schema.ts). longrun's own
 * protos never come through here: `buf build` describes them at build time (scripts/gen.mjs).
 *
 * Each file is read and parsed once (protobufjs's parser; no buf or protoc at run time).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import protobuf from 'protobufjs';
import { fileName, filesOfSet } from './descriptor-set.js';
import { PROTO_DIR } from './paths.js';

/**
 * Describes .proto files as a serialized FileDescriptorSet. `files` are paths relative to one of
 * `includeDirs` (longrun's proto/ is searched too), as they would be imported. The set holds them
 * and every file they import, except google/protobuf/* (longrun's set has the well-known types) and
 * any file whose name is already in `known` (e.g. longrun's set, to leave out what it describes
 * better). Custom options (google.api.http, operation_info...) are kept when their extension is
 * imported. Files using protobuf editions are not supported; build those with buf or protoc instead.
 */
export function descriptorSetFromProtoFiles(files: readonly string[], includeDirs: readonly string[], known?: Uint8Array): Uint8Array {
  const skip = new Set(known === undefined ? [] : filesOfSet(known).map(fileName));
  const { root, sources } = loadRoot(files, includeDirs);
  const describer = new Describer(root);
  const described: Record<string, unknown>[] = [];
  for (const [path, source] of sources) {
    if (source.name.startsWith('google/protobuf/') || skip.has(source.name)) continue;
    described.push(describer.file(path, source));
  }
  const FileDescriptorSet = root.lookupType('google.protobuf.FileDescriptorSet');
  return FileDescriptorSet.encode(FileDescriptorSet.fromObject(fieldNamesOf({ file: described }, FileDescriptorSet) as Plain)).finish();
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

/** A .proto file as read (once) and parsed (once). */
interface Source {
  /** As imported: relative to its include dir. */
  name: string;
  text: string;
  parsed: protobuf.IParserResult;
  /** The file's own options: its package's namespace merges those of every file in the package. */
  options: WithOptions;
}

/**
 * Loads `files` and their imports with field names as written; `sources` maps each file's path to
 * its text and parse. The well-known types protobufjs bundles come from its own copies, as
 * `Root.load` does; every other file is read here, once, and parsed once.
 */
function loadRoot(files: readonly string[], includeDirs: readonly string[]): { root: protobuf.Root; sources: Map<string, Source> } {
  const dirs = [...includeDirs, PROTO_DIR, PROTOBUFJS_DIR];
  const sources = new Map<string, Source>();
  const seen = new Set<string>();
  const root = new protobuf.Root();
  const locate = (target: string): { path: string; name: string } => {
    if (isAbsolute(target)) {
      const dir = dirs.find((d) => target.startsWith(d + sep));
      return { path: target, name: dir === undefined ? target : relative(dir, target).split(sep).join('/') };
    }
    const dir = dirs.find((d) => existsSync(join(d, target)));
    if (dir === undefined) throw new Error(`${target}: not found in the include dirs (${dirs.slice(0, -1).join(', ')})`);
    return { path: join(dir, target), name: target };
  };
  const load = (target: string, weak: boolean): void => {
    const bundled = BUNDLED[target];
    if (bundled !== undefined) {
      if (seen.has(target)) return;
      seen.add(target);
      root.setOptions(bundled.options ?? {});
      root.addJSON(bundled.nested ?? {});
      return;
    }
    let located: { path: string; name: string };
    try {
      located = locate(target);
    } catch (error) {
      if (weak) return;
      throw error;
    }
    if (seen.has(located.path)) return;
    seen.add(located.path);
    const text = readFileSync(located.path, 'utf8');
    // Where protobufjs names the file in its parse errors and in each object's `filename`.
    (protobuf.parse as unknown as { filename: string | null }).filename = located.path;
    const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(text)?.[1];
    const namespace = (): WithOptions | null => (pkg === undefined ? root : (root.lookup(pkg) as WithOptions | null));
    const before = namespace();
    const saved = before === null ? undefined : { options: before.options, parsedOptions: before.parsedOptions };
    if (before !== null) Object.assign(before, { options: undefined, parsedOptions: undefined });
    const parsed = protobuf.parse(text, root, { keepCase: true });
    const after = namespace();
    const options = { options: after?.options, parsedOptions: after?.parsedOptions };
    if (after !== null && saved !== undefined) {
      after.options = saved.options === undefined && after.options === undefined ? undefined : { ...saved.options, ...after.options };
      after.parsedOptions = [...((saved.parsedOptions as unknown[] | undefined) ?? []), ...((after.parsedOptions as unknown[] | undefined) ?? [])];
    }
    sources.set(located.path, { name: located.name, text, parsed, options });
    for (const imported of parsed.imports ?? []) load(imported, false);
    for (const imported of parsed.weakImports ?? []) load(imported, true);
  };
  // descriptor.proto gives the option messages that custom options are encoded into.
  for (const file of ['google/protobuf/descriptor.proto', ...files]) load(file, false);
  root.resolveAll();
  return { root, sources };
}

/** The well-known types protobufjs carries as JSON (google/protobuf/any.proto...). */
const BUNDLED = (protobuf as unknown as { common: Record<string, protobuf.INamespace & { options?: Record<string, unknown> }> }).common;

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

  file(path: string, source: Source): Plain {
    const { name, text, parsed } = source;
    if (/^\s*edition\s*=/m.test(text)) throw new Error(`${name} uses protobuf editions, which descriptorSetFromProtoFiles does not support`);
    const syntax = /^\s*syntax\s*=\s*["'](proto[23])["']/m.exec(text)?.[1] ?? 'proto2';
    const imports = parsed.imports ?? [];
    const weak = parsed.weakImports ?? [];
    const publicImports = [...text.matchAll(/^\s*import\s+public\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
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
      options: this.options('FileOptions', source.options),
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
