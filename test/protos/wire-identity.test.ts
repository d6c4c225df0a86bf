/**
 * Our proto/google/** files are our own writing of Google's published contracts. These tests load
 * both with protobufjs and check that they describe the same wire: every message (nested too),
 * field (name, number, type, label, map key, oneof), enum value, extension, service method
 * (types, streaming, options such as google.api.http and google.longrunning.operation_info) and
 * file option. Anything in Google's file that ours lacks, or ours adds, fails with its full name.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { Code } from '../../src/domain/errors.js';
import { PROTO_DIR } from '../../src/protos/paths.js';

const require = createRequire(import.meta.url);
const PUBLISHED_DIR = dirname(require.resolve('google-proto-files/package.json'));
const PROTOBUFJS_DIR = dirname(require.resolve('protobufjs/package.json'));

/**
 * Fields the issue asks for that an older published copy may lack. Accepted as additions only
 * while the published file lacks them; once it has them they are compared like any other field.
 */
const KNOWN_ADDITIONS = new Set([
  'google.longrunning.ListOperationsRequest.return_partial_success',
  'google.longrunning.ListOperationsResponse.unreachable',
]);

function protoFilesUnder(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? protoFilesUnder(path) : path.endsWith('.proto') ? [path] : [];
    })
    .sort();
}

/** Our google/** files, as paths relative to proto/ with forward slashes. */
const OUR_GOOGLE_FILES = protoFilesUnder(join(PROTO_DIR, 'google')).map((file) => relative(PROTO_DIR, file).split(sep).join('/'));

/**
 * Loads `files` (relative to `dir`) into a fresh root. google/protobuf/* always comes from
 * protobufjs's bundled copies, so both sides share the well-known types.
 */
function load(dir: string, files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const base of target.startsWith('google/protobuf/') ? [PROTOBUFJS_DIR, dir] : [dir]) {
      const candidate = join(base, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

type Definition = protobuf.Type | protobuf.Enum | protobuf.Service | protobuf.Field;

/** Top-level messages, enums, services and extensions that `file` (absolute) declares. */
function definitionsOf(root: protobuf.Root, file: string): Map<string, Definition> {
  const found = new Map<string, Definition>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const object of ns.nestedArray) {
      if (object instanceof protobuf.Type || object instanceof protobuf.Enum || object instanceof protobuf.Service || object instanceof protobuf.Field) {
        if (object.filename === file) found.set(fullName(object), object);
      } else if (object instanceof protobuf.Namespace) {
        visit(object);
      }
    }
  };
  visit(root);
  return found;
}

function fullName(object: protobuf.ReflectionObject): string {
  return object.fullName.replace(/^\./, '');
}

/** Option values with object keys sorted, so equal options print equally. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

interface WithOptions {
  parsedOptions?: unknown;
  options?: Record<string, unknown> | undefined;
}

/**
 * Declared options by name, each with its values in declaration order. Custom options such as
 * `(google.api.http)` come from protobufjs's `parsedOptions` (a list of one-key objects); plain
 * ones (packed, deprecated, json_name...) from `options`. A single `additional_bindings` comes back
 * as an object and several as a list, so HTTP rules are normalised to always list them.
 */
function optionsOf(object: WithOptions): Record<string, unknown[]> {
  const options: Record<string, unknown[]> = {};
  const add = (key: string, value: unknown): void => {
    (options[key] ??= []).push(key === '(google.api.http)' ? httpRule(value) : canonical(value));
  };
  for (const entry of (object.parsedOptions as Record<string, unknown>[] | undefined) ?? []) {
    for (const [key, value] of Object.entries(entry)) if (key.startsWith('(')) add(key, value);
  }
  for (const [key, value] of Object.entries(object.options ?? {})) {
    if (!key.startsWith('(') && key !== 'proto3_optional') add(key, value);
  }
  return options;
}

interface HttpRuleShape {
  verb: string;
  path: unknown;
  body: unknown;
  response_body: unknown;
  additional_bindings: HttpRuleShape[];
}

function httpRule(value: unknown): HttpRuleShape {
  const rule = (value ?? {}) as Record<string, unknown>;
  const verb = ['get', 'put', 'post', 'delete', 'patch', 'custom'].find((key) => key in rule) ?? '(none)';
  const bindings = rule['additional_bindings'];
  return {
    verb,
    path: canonical(rule[verb]),
    body: rule['body'] ?? '',
    response_body: rule['response_body'] ?? '',
    additional_bindings: (bindings === undefined ? [] : Array.isArray(bindings) ? bindings : [bindings]).map(httpRule),
  };
}

function typeName(field: protobuf.Field): string {
  return field.resolvedType ? fullName(field.resolvedType) : field.type;
}

/** Only repeated scalar numbers and enums have a packed wire form. */
function isPackable(field: protobuf.Field): boolean {
  return field.resolvedType instanceof protobuf.Enum || (field.resolvedType === null && !['string', 'bytes'].includes(field.type));
}

function fieldShape(field: protobuf.Field): Record<string, unknown> {
  return {
    number: field.id,
    type: typeName(field),
    label: field.repeated ? 'repeated' : field.options?.['proto3_optional'] === true ? 'optional' : field.required ? 'required' : 'singular',
    map_key: field instanceof protobuf.MapField ? field.keyType : null,
    oneof: field.partOf?.name ?? null,
    packed: field.repeated && isPackable(field) ? field.packed : null,
    extends: field.extend ?? null,
  };
}

type Counts = Record<'messages' | 'fields' | 'enums' | 'enumValues' | 'services' | 'methods' | 'httpRules' | 'operationInfos' | 'extensions' | 'fileOptions', number>;

/** Collects differences between two definitions, one human-readable line each. */
class Comparison {
  readonly differences: string[] = [];
  /** In subset mode: what Google's file has and ours leaves out. */
  readonly omitted: string[] = [];

  /** `subset`: ours may leave out definitions and fields, but what it has must match. */
  constructor(private readonly subset = false) {}

  readonly counts: Counts = { messages: 0, fields: 0, enums: 0, enumValues: 0, services: 0, methods: 0, httpRules: 0, operationInfos: 0, extensions: 0, fileOptions: 0 };

  definition(name: string, ours: Definition | undefined, theirs: Definition | undefined): void {
    if (ours === undefined && theirs === undefined) return;
    if (ours === undefined) return this.missing(name);
    if (theirs === undefined) return this.differ(name, "is in our file but not in Google's");
    if (ours.constructor !== theirs.constructor) return this.differ(name, `is a ${ours.constructor.name} in ours but a ${theirs.constructor.name} in Google's`);
    if (ours instanceof protobuf.Type) this.message(name, ours, theirs as protobuf.Type);
    else if (ours instanceof protobuf.Enum) this.enum(name, ours, theirs as protobuf.Enum);
    else if (ours instanceof protobuf.Service) this.service(name, ours, theirs as protobuf.Service);
    else {
      this.counts.extensions++;
      this.shape(name, fieldShape(ours), fieldShape(theirs as protobuf.Field));
      this.options(name, ours, theirs as protobuf.Field);
    }
  }

  private message(name: string, ours: protobuf.Type, theirs: protobuf.Type): void {
    this.counts.messages++;
    this.options(name, ours, theirs);
    for (const fieldName of union(Object.keys(ours.fields), Object.keys(theirs.fields))) {
      const fieldFullName = `${name}.${fieldName}`;
      const a = ours.fields[fieldName];
      const b = theirs.fields[fieldName];
      if (a !== undefined && b === undefined && KNOWN_ADDITIONS.has(fieldFullName)) continue;
      if (a === undefined) this.missing(fieldFullName);
      else if (b === undefined) this.differ(fieldFullName, "is in our file but not in Google's");
      else {
        this.counts.fields++;
        this.shape(fieldFullName, fieldShape(a), fieldShape(b));
        this.options(fieldFullName, a, b);
      }
    }
    const oneofs = (type: protobuf.Type): string[] =>
      type.oneofsArray.map((oneof) => `${oneof.name}(${oneof.oneof.filter((f) => !KNOWN_ADDITIONS.has(`${name}.${f}`) || theirs.fields[f] !== undefined).join(',')})`).sort();
    this.same(`${name} oneofs`, oneofs(ours).join(' '), oneofs(theirs).join(' '));
    const nested = (type: protobuf.Type): Map<string, Definition> =>
      new Map(type.nestedArray.filter((o): o is Definition => o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Field).map((o) => [o.name, o]));
    const ourNested = nested(ours);
    const theirNested = nested(theirs);
    for (const child of union([...ourNested.keys()], [...theirNested.keys()])) {
      this.definition(`${name}.${child}`, ourNested.get(child), theirNested.get(child));
    }
  }

  private enum(name: string, ours: protobuf.Enum, theirs: protobuf.Enum): void {
    this.counts.enums++;
    this.options(name, ours, theirs);
    for (const value of union(Object.keys(ours.values), Object.keys(theirs.values))) {
      this.counts.enumValues++;
      this.same(`${name}.${value}`, ours.values[value], theirs.values[value]);
      this.same(`${name}.${value} options`, canonical(ours.valuesOptions?.[value] ?? {}), canonical(theirs.valuesOptions?.[value] ?? {}));
    }
  }

  private service(name: string, ours: protobuf.Service, theirs: protobuf.Service): void {
    this.counts.services++;
    this.options(name, ours, theirs);
    for (const methodName of union(Object.keys(ours.methods), Object.keys(theirs.methods))) {
      const a = ours.methods[methodName];
      const b = theirs.methods[methodName];
      const methodFullName = `${name}.${methodName}`;
      if (a === undefined) {
        this.missing(methodFullName);
        continue;
      }
      if (b === undefined) {
        this.differ(methodFullName, "is in our file but not in Google's");
        continue;
      }
      this.counts.methods++;
      const shape = (m: protobuf.Method): Record<string, unknown> => ({
        request: m.resolvedRequestType ? fullName(m.resolvedRequestType) : m.requestType,
        response: m.resolvedResponseType ? fullName(m.resolvedResponseType) : m.responseType,
        client_streaming: m.requestStream === true,
        server_streaming: m.responseStream === true,
      });
      this.shape(methodFullName, shape(a), shape(b));
      this.options(methodFullName, a, b);
      // Counted separately so the tests can show these annotations really were compared.
      if (hasOption(b, '(google.api.http)')) this.counts.httpRules++;
      if (hasOption(b, '(google.longrunning.operation_info)')) this.counts.operationInfos++;
    }
  }

  fileOptions(file: string, ours: Record<string, unknown>, theirs: Record<string, unknown>): void {
    this.counts.fileOptions++;
    for (const key of union(Object.keys(ours), Object.keys(theirs))) this.same(`${file} option ${key}`, ours[key], theirs[key]);
  }

  /** Compares declared options one name at a time, e.g. `(google.api.http)`, `packed`. */
  private options(name: string, ours: WithOptions, theirs: WithOptions): void {
    const a = optionsOf(ours);
    const b = optionsOf(theirs);
    for (const key of union(Object.keys(a), Object.keys(b))) this.same(`${name} option ${key}`, a[key], b[key]);
  }

  private shape(name: string, ours: Record<string, unknown>, theirs: Record<string, unknown>): void {
    for (const key of union(Object.keys(ours), Object.keys(theirs))) this.same(`${name} ${key}`, ours[key], theirs[key]);
  }

  private same(what: string, ours: unknown, theirs: unknown): void {
    const a = JSON.stringify(ours);
    const b = JSON.stringify(theirs);
    if (a !== b) this.differ(what, `differs: ours ${a}, Google's ${b}`);
  }

  private missing(what: string): void {
    if (this.subset) this.omitted.push(what);
    else this.differ(what, "is in Google's file but missing from ours");
  }

  private differ(what: string, how: string): void {
    this.differences.push(`${what} ${how}`);
  }
}

function hasOption(object: WithOptions, key: string): boolean {
  return ((object.parsedOptions as Record<string, unknown>[] | undefined) ?? []).some((entry) => key in entry);
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

/** This file's own options (java_package, go_package...), not merged with other files of its package. */
function fileOptionsOf(path: string): Record<string, unknown> {
  const parsed = protobuf.parse(readFileSync(path, 'utf8'), { keepCase: true });
  const ns = parsed.package === undefined ? parsed.root : parsed.root.lookup(parsed.package);
  return (ns?.options as Record<string, unknown> | undefined) ?? {};
}

/**
 * Vision is written as the subset its AsyncBatchAnnotateFiles sample needs: everything in ours must
 * match Google's, and what is left out is listed in the test output.
 */
const SUBSET_FILES = /^google\/cloud\/vision\/v1\//;

describe('proto/google/** is wire-identical to google-proto-files', { timeout: 180_000 }, () => {
  test('every file of ours has a published counterpart', () => {
    assert.ok(OUR_GOOGLE_FILES.length >= 9, `expected at least our 9 google/ files, found ${OUR_GOOGLE_FILES.length}`);
    for (const required of [
      'google/longrunning/operations.proto',
      'google/rpc/status.proto',
      'google/rpc/code.proto',
      'google/rpc/error_details.proto',
      'google/api/annotations.proto',
      'google/api/http.proto',
      'google/api/client.proto',
      'google/api/field_behavior.proto',
      'google/api/launch_stage.proto',
    ]) {
      assert.ok(OUR_GOOGLE_FILES.includes(required), `proto/${required} is missing`);
    }
    const unpublished = OUR_GOOGLE_FILES.filter((file) => !existsSync(join(PUBLISHED_DIR, file)));
    assert.deepEqual(unpublished, [], `these proto/ files have no counterpart in google-proto-files: ${unpublished.join(', ')}`);
  });

  // Loaded once for every file: Google's files import each other the same way ours do. Vision
  // (google/cloud/vision/v1/), once added, is compared like the rest.
  const ours = load(PROTO_DIR, OUR_GOOGLE_FILES);
  const theirs = load(PUBLISHED_DIR, OUR_GOOGLE_FILES.filter((file) => existsSync(join(PUBLISHED_DIR, file))));
  const totals = new Comparison().counts;

  for (const file of OUR_GOOGLE_FILES) {
    test(file, (t) => {
      const published = join(PUBLISHED_DIR, file);
      if (!existsSync(published)) return t.skip('no published counterpart (reported by the test above)');
      const comparison = new Comparison(SUBSET_FILES.test(file));
      const a = definitionsOf(ours, join(PROTO_DIR, file));
      const b = definitionsOf(theirs, published);
      assert.ok(a.size > 0, `found no definitions in proto/${file}`);
      assert.ok(b.size > 0, `found no definitions in the published ${file}`);
      for (const name of union([...a.keys()], [...b.keys()])) comparison.definition(name, a.get(name), b.get(name));
      comparison.fileOptions(file, fileOptionsOf(join(PROTO_DIR, file)), fileOptionsOf(published));
      for (const [key, value] of Object.entries(comparison.counts)) totals[key as keyof Counts] += value;
      assert.deepEqual(comparison.differences, [], `proto/${file} differs from Google's:\n  ${comparison.differences.join('\n  ')}`);
      if (comparison.omitted.length > 0) t.diagnostic(`left out (not used by longrun): ${comparison.omitted.join(', ')}`);
    });
  }

  test('the comparison covered real definitions', (t) => {
    t.diagnostic(`compared ${JSON.stringify(totals)}`);
    assert.ok(totals.messages >= 30, `compared only ${totals.messages} messages`);
    assert.ok(totals.fields >= 100, `compared only ${totals.fields} fields`);
    assert.ok(totals.enums >= 3, `compared only ${totals.enums} enums`);
    assert.ok(totals.enumValues >= 17, `compared only ${totals.enumValues} enum values`);
    assert.ok(totals.services >= 1, `compared only ${totals.services} services`);
    assert.ok(totals.methods >= 5, `compared only ${totals.methods} methods`);
    assert.ok(totals.httpRules >= 4, `compared only ${totals.httpRules} google.api.http rules`);
    assert.ok(totals.extensions >= 4, `compared only ${totals.extensions} extensions`);
    assert.equal(totals.fileOptions, OUR_GOOGLE_FILES.length);
    if (OUR_GOOGLE_FILES.some((file) => file.startsWith('google/cloud/vision/v1/'))) {
      assert.ok(totals.operationInfos >= 1, 'Vision declares operation_info on its async methods; none was compared');
    }
  });

  test('google.longrunning has the partial-success fields the issue requires', () => {
    const request = ours.lookupType('google.longrunning.ListOperationsRequest').fields['return_partial_success'];
    const response = ours.lookupType('google.longrunning.ListOperationsResponse').fields['unreachable'];
    assert.equal(request?.id, 5);
    assert.equal(request?.type, 'bool');
    assert.equal(response?.id, 3);
    assert.equal(response?.type, 'string');
    assert.equal(response?.repeated, true);
  });

  test('the comparison notices a difference', () => {
    const a = new protobuf.Type('M').add(new protobuf.Field('x', 1, 'string'));
    const b = new protobuf.Type('M').add(new protobuf.Field('x', 2, 'string')).add(new protobuf.Field('y', 3, 'int32'));
    const comparison = new Comparison();
    comparison.definition('M', a, b);
    assert.deepEqual(comparison.differences, ["M.x number differs: ours 1, Google's 2", "M.y is in Google's file but missing from ours"]);
    const subset = new Comparison(true);
    subset.definition('M', a, b);
    assert.deepEqual(subset.differences, ["M.x number differs: ours 1, Google's 2"], 'a subset still has to match field by field');
    assert.deepEqual(subset.omitted, ['M.y']);
  });
});

describe('operation_info in our own protos', { timeout: 180_000 }, () => {
  const files = protoFilesUnder(PROTO_DIR).map((file) => relative(PROTO_DIR, file).split(sep).join('/'));
  const root = load(PROTO_DIR, files);

  test('every operation_info names messages that exist, on methods returning Operation', () => {
    let checked = 0;
    const visit = (ns: protobuf.NamespaceBase): void => {
      for (const object of ns.nestedArray) {
        if (object instanceof protobuf.Service) {
          for (const method of object.methodsArray) {
            const options = (method.parsedOptions as Record<string, unknown>[] | undefined) ?? [];
            const info = options.find((entry) => '(google.longrunning.operation_info)' in entry)?.['(google.longrunning.operation_info)'] as
              | { response_type?: string; metadata_type?: string }
              | undefined;
            if (info === undefined) continue;
            checked++;
            assert.equal(method.resolvedResponseType?.fullName, '.google.longrunning.Operation', `${method.fullName} declares operation_info but does not return Operation`);
            for (const typeName of [info.response_type, info.metadata_type]) {
              assert.ok(typeName, `${method.fullName} operation_info lacks a type`);
              // AIP-151: names may be relative to the method's package.
              const found = object.lookup(typeName) ?? root.lookup(typeName);
              assert.ok(found instanceof protobuf.Type, `${method.fullName} operation_info names ${typeName}, which is not a message`);
            }
          }
        } else if (object instanceof protobuf.Namespace) {
          visit(object);
        }
      }
    };
    visit(root);
    assert.ok(checked >= 1, 'no method declares operation_info (longrun.testing.v1.Sleeper.Sleep should)');
  });

  test('Sleeper.Sleep is bound to POST /v1/sleep and names its types', () => {
    const sleep = root.lookupService('longrun.testing.v1.Sleeper').methods['Sleep'];
    assert.ok(sleep);
    assert.equal(sleep.responseType, 'google.longrunning.Operation');
    const options = Object.assign({}, ...((sleep.parsedOptions as Record<string, unknown>[] | undefined) ?? [])) as Record<string, unknown>;
    assert.deepEqual(options['(google.api.http)'], { post: '/v1/sleep', body: '*' });
    assert.deepEqual(options['(google.longrunning.operation_info)'], {
      response_type: 'longrun.testing.v1.SleepResponse',
      metadata_type: 'longrun.testing.v1.SleepMetadata',
    });
  });
});

test('Code in src/domain/errors.ts equals google.rpc.Code in proto/google/rpc/code.proto', { timeout: 180_000 }, () => {
  const values = load(PROTO_DIR, ['google/rpc/code.proto']).lookupEnum('google.rpc.Code').values;
  assert.equal(Object.keys(values).length, 17);
  assert.deepEqual({ ...Code }, { ...values });
});
