/**
 * Plain objects checked against their message type as strictly as the wire checks JSON, and
 * encoded: a field the type does not have, or a value of the wrong type (`pages: 'abc'` for an
 * int32), is refused with the path of the field, never coerced (protobufjs's `fromObject` makes
 * `'abc'` a 0) or dropped (it ignores unknown keys).
 *
 * The type checks are @bufbuild/protobuf's own (its reflection API refuses a value that does not
 * fit a field, with the reason); this walk only finds each key's field, follows messages, lists
 * and maps to name the path, and accepts the shapes the rest of longrun hands around:
 * proto-loader's (LOADER_OPTIONS: 64-bit integers and enums as strings, `null` for an unset
 * message, a virtual property naming each oneof's set field) as well as JSON's. As in proto3 JSON,
 * a field may be named by its JSON (lowerCamelCase) name or its proto name.
 */
import { create, fromBinary, toBinary, type DescField, type DescMessage, type DescOneof, type Message } from '@bufbuild/protobuf';
import { isFieldError, reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { base64Decode } from '@bufbuild/protobuf/wire';

/** Where a value does not fit its type: the field path as the caller wrote it, and why. */
export class FieldProblem extends Error {
  constructor(
    readonly path: string,
    readonly rule: string,
  ) {
    super(`${path}: ${rule}`);
  }
}

/** Encodes `value` as `schema`, or throws FieldProblem naming the first field that does not fit (paths start at `root`). */
export function encodeStrict(schema: DescMessage, value: unknown, root: string): Uint8Array {
  return toBinary(schema, messageOf(schema, value, root));
}

/** `value` as a message of `schema`, or throws FieldProblem naming the first field that does not fit (paths start at `root`). */
export function checkedMessage(schema: DescMessage, value: unknown, root: string): Message {
  return messageOf(schema, value, root);
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function messageOf(schema: DescMessage, value: unknown, path: string): Message {
  if (!isPlainObject(value)) {
    if (isGeneratedMessage(value)) return fromBinary(schema, value.serializeBinary());
    throw new FieldProblem(path, `expected a ${schema.typeName} message (a plain object), got ${describe(value)}`);
  }
  const message = reflect(schema, create(schema));
  // Made only for a message that names a oneof's set field (rare): this runs on every creation.
  let oneofNames: Map<string, string> | undefined;
  for (const [key, field] of Object.entries(value)) {
    const at = join(path, key);
    const target = fieldNamed(schema, key);
    if (target === undefined) {
      const oneof = virtualOneof(schema, key);
      if (oneof === undefined) throw new FieldProblem(at, `${schema.typeName} has no such field (its fields: ${fieldList(schema)})`);
      if (field !== undefined && field !== null) (oneofNames ??= new Map()).set(key, checkOneofName(oneof, field, at));
      continue;
    }
    if (field === undefined || field === null) continue; // unset, as JSON's null
    if (target.oneof !== undefined && message.oneofCase(target.oneof) !== undefined) {
      const other = message.oneofCase(target.oneof)!;
      throw new FieldProblem(at, `only one field of oneof ${target.oneof.name} may be set, and ${other.jsonName} is set too`);
    }
    setField(message, target, field, at);
  }
  // A virtual oneof property must agree with the field actually set.
  for (const [key, named] of oneofNames ?? []) {
    const oneof = virtualOneof(schema, key)!;
    const set = oneof.kind === 'oneof' ? message.oneofCase(oneof.oneof) : message.isSet(oneof.fields[0]!) ? oneof.fields[0] : undefined;
    if (set !== undefined && set.localName !== named && set.jsonName !== named && set.name !== named) {
      throw new FieldProblem(join(path, key), `names ${named}, but the field set is ${set.jsonName}`);
    }
  }
  return message.message;
}

function setField(message: ReflectMessage, field: DescField, value: unknown, path: string): void {
  switch (field.fieldKind) {
    case 'list': {
      if (!Array.isArray(value)) throw new FieldProblem(path, `expected a list, got ${describe(value)}`);
      const list = message.get(field);
      value.forEach((item, i) => {
        const at = `${path}[${i}]`;
        check(at, () => list.add(singular(field, item, at)));
      });
      return;
    }
    case 'map': {
      const entries = value instanceof Map ? [...value.entries()] : isPlainObject(value) ? Object.entries(value) : undefined;
      if (entries === undefined) throw new FieldProblem(path, `expected a map (a plain object), got ${describe(value)}`);
      const map = message.get(field);
      for (const [key, item] of entries) {
        const at = `${path}[${JSON.stringify(String(key))}]`;
        check(at, () => map.set(mapKey(field.mapKey, key, at), singular(field, item, at)));
      }
      return;
    }
    default:
      check(path, () => message.set(field, singular(field, value, path)));
  }
}

/** A list item, map value or singular field's value in the form the reflection API checks. */
function singular(field: DescField, value: unknown, path: string): unknown {
  if (value === null || value === undefined) throw new FieldProblem(path, 'must not be null');
  const message = field.fieldKind === 'message' || field.fieldKind === 'list' || field.fieldKind === 'map' ? field.message : undefined;
  if (message !== undefined) return reflect(message, messageOf(message, value, path));
  const enumType = field.enum;
  if (enumType !== undefined) {
    if (typeof value !== 'string') return value;
    const named = enumType.values.find((v) => v.name === value);
    if (named === undefined) throw new FieldProblem(path, `${enumType.typeName} has no value ${JSON.stringify(value)} (its values: ${enumType.values.map((v) => v.name).join(', ')})`);
    return named.number;
  }
  if (field.scalar === SCALAR_BYTES && typeof value === 'string') {
    if (!BASE64.test(value)) throw new FieldProblem(path, `expected bytes (a Uint8Array, or a base64 string), got a string that is not base64`);
    return base64Decode(value);
  }
  if (field.scalar !== undefined && LONGS.has(field.scalar) && typeof value === 'string' && !/^-?\d+$/.test(value)) {
    throw new FieldProblem(path, `expected a 64-bit integer (a bigint, number or decimal string), got ${describe(value)}`);
  }
  if (field.scalar !== undefined && LONGS.has(field.scalar) && typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new FieldProblem(path, `expected a 64-bit integer, got ${value}: give integers beyond 2^53 as a bigint or a decimal string`);
  }
  return value;
}

// ScalarType numbers (descriptor.proto's FieldDescriptorProto.Type).
const SCALAR_BYTES = 12;
const LONGS = new Set([3, 4, 6, 16, 18]); // int64, uint64, fixed64, sfixed64, sint64
const SCALAR_BOOL = 8;

function mapKey(scalar: number, key: unknown, path: string): unknown {
  if (typeof key !== 'string') return key;
  if (scalar === SCALAR_BOOL) {
    if (key === 'true' || key === 'false') return key === 'true';
    throw new FieldProblem(path, 'a bool map key must be "true" or "false"');
  }
  if (LONGS.has(scalar)) return key;
  if (scalar !== 9 /* string */) {
    if (!/^-?\d+$/.test(key)) throw new FieldProblem(path, `expected an integer map key, got ${JSON.stringify(key)}`);
    return Number(key);
  }
  return key;
}

/** Runs a reflection call, turning the reason it refuses a value into a FieldProblem at `path`. */
function check(path: string, run: () => void): void {
  try {
    run();
  } catch (error) {
    if (isFieldError(error)) throw new FieldProblem(path, error.message);
    throw error;
  }
}

/** The field `key` names: its JSON name or its proto name, as proto3 JSON accepts. */
function fieldNamed(schema: DescMessage, key: string): DescField | undefined {
  return schema.fields.find((f) => f.jsonName === key || f.name === key || f.localName === key);
}

type VirtualOneof = { kind: 'oneof'; oneof: DescOneof; fields: readonly DescField[] } | { kind: 'optional'; fields: readonly [DescField] };

/**
 * proto-loader's `oneofs: true` adds a property named after each oneof whose value names the field
 * set (and `_field` for a proto3 `optional` field's synthetic oneof): present in every request it
 * decodes, so it is accepted, and checked against the field set.
 */
function virtualOneof(schema: DescMessage, key: string): VirtualOneof | undefined {
  const oneof = schema.oneofs.find((o) => o.localName === key || o.name === key || camel(o.name) === key);
  if (oneof !== undefined) return { kind: 'oneof', oneof, fields: oneof.fields };
  const optional = schema.fields.find((f) => f.proto.proto3Optional === true && (key === `_${f.jsonName}` || key === `_${f.name}`));
  return optional === undefined ? undefined : { kind: 'optional', fields: [optional] };
}

function checkOneofName(oneof: VirtualOneof, value: unknown, path: string): string {
  const names = oneof.fields.map((f) => f.jsonName);
  if (typeof value !== 'string' || !oneof.fields.some((f) => f.jsonName === value || f.name === value || f.localName === value)) {
    throw new FieldProblem(path, `must name one of ${names.join(', ')}, got ${describe(value)}`);
  }
  return value;
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function fieldList(schema: DescMessage): string {
  return schema.fields.length === 0 ? 'none' : schema.fields.map((f) => f.jsonName).join(', ');
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isGeneratedMessage(value: unknown): value is { serializeBinary(): Uint8Array } {
  return typeof value === 'object' && value !== null && typeof (value as { serializeBinary?: unknown }).serializeBinary === 'function';
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return `bytes (${value.length})`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return `a ${Object.getPrototypeOf(value)?.constructor?.name ?? 'object'}`;
  return `${typeof value} ${String(value)}`;
}
