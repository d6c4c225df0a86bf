/**
 * Messages in the shape handlers and grpc-js handlers have always received: proto-loader's, with
 * LOADER_OPTIONS (src/protos/paths.ts). Read from @bufbuild/protobuf messages, so a request is
 * parsed once (from JSON or bytes) and only then turned into the object a handler sees.
 *
 * The shape, as protobufjs's `toObject` makes it for proto-loader (checked field for field against
 * it in test/protos/loader-shape.test.ts):
 * - field names in protobufjs's camelCase (`page_size` -> `pageSize`), except google.protobuf.Any's
 *   `type_url`, which proto-loader takes from protobufjs's bundled JSON with the proto name;
 * - 64-bit integers as decimal strings, enums by name (a number with no name stays a number),
 *   bytes as Buffers;
 * - every field present: unset scalars as their default, unset messages as `null`, empty lists and
 *   maps, except members of a oneof (and proto3 `optional` fields), present only when set;
 * - for each set oneof member, a property named after the oneof (`_name` for a proto3 `optional`
 *   field) naming the field.
 */
import { isFieldSet, ScalarType, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';

type Plain = Record<string, unknown>;

/** protobufjs's camelCase (util.camelCase), which is not protoc's json_name: `field_1` stays. */
export function loaderCase(name: string): string {
  return name.slice(0, 1) + name.slice(1).replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The name a field has in the loader shape. */
export function loaderName(field: DescField): string {
  return field.parent.typeName === 'google.protobuf.Any' ? field.name : loaderCase(field.name);
}

interface Layout {
  lists: DescField[];
  maps: DescField[];
  plain: DescField[];
  /** Oneof members and proto3 `optional` fields, with the name of their (virtual) oneof. */
  chosen: { field: DescField; oneof: string }[];
  names: Map<DescField, string>;
}

const layouts = new WeakMap<DescMessage, Layout>();

/** protobufjs's key order: lists, maps, other fields, then set oneof members; each by field number. */
function layoutOf(schema: DescMessage): Layout {
  let layout = layouts.get(schema);
  if (layout === undefined) {
    const fields = [...schema.fields].sort((a, b) => a.number - b.number);
    const optional = (f: DescField) => f.proto.proto3Optional === true;
    layout = {
      lists: fields.filter((f) => f.fieldKind === 'list'),
      maps: fields.filter((f) => f.fieldKind === 'map'),
      plain: fields.filter((f) => f.fieldKind !== 'list' && f.fieldKind !== 'map' && f.oneof === undefined && !optional(f)),
      chosen: fields
        .filter((f) => f.oneof !== undefined || optional(f))
        .map((f) => ({ field: f, oneof: f.oneof === undefined ? `_${loaderCase(f.name)}` : loaderCase(f.oneof.name) })),
      names: new Map(fields.map((f) => [f, loaderName(f)])),
    };
    layouts.set(schema, layout);
  }
  return layout;
}

/** `message` (of type `schema`) in the loader shape. */
export function toLoaderObject<T = Plain>(schema: DescMessage, message: Message): T {
  return objectOf(schema, message as unknown as Plain) as T;
}

function objectOf(schema: DescMessage, message: Plain): Plain {
  const { lists, maps, plain, chosen, names } = layoutOf(schema);
  const out: Plain = {};
  for (const field of lists) {
    const items = message[field.localName] as unknown[];
    out[names.get(field)!] = items.map((item) => valueOf(field, item));
  }
  for (const field of maps) {
    const entries = message[field.localName] as Plain;
    const object: Plain = {};
    for (const key of Object.keys(entries)) object[key] = valueOf(field, entries[key]);
    out[names.get(field)!] = object;
  }
  for (const field of plain) {
    const value = message[field.localName];
    out[names.get(field)!] = field.fieldKind === 'message' && value === undefined ? null : valueOf(field, value);
  }
  for (const { field, oneof } of chosen) {
    let value: unknown;
    if (field.oneof !== undefined) {
      const selected = message[field.oneof.localName] as { case: string | undefined; value?: unknown };
      if (selected.case !== field.localName) continue;
      value = selected.value;
    } else {
      if (!isFieldSet(message as unknown as Message, field)) continue;
      value = message[field.localName];
    }
    const name = names.get(field)!;
    out[name] = valueOf(field, value);
    out[oneof] = name;
  }
  return out;
}

/** One value of `field` (a list item, a map value, or the field's own value). */
function valueOf(field: DescField, value: unknown): unknown {
  if (field.message !== undefined) return objectOf(field.message, value as Plain);
  if (field.enum !== undefined) return field.enum.value[value as number]?.name ?? value;
  switch (field.scalar) {
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return String(value);
    case ScalarType.BYTES: {
      const bytes = value as Uint8Array;
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    default:
      return value;
  }
}
