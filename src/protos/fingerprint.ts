/**
 * The bytes a request's fingerprint hashes (to recognize a retried creation): the request with
 * every field that is not a message, a list, a map or a oneof member written even when it holds
 * its default, fields in number order. That is how earlier versions encoded the decoded request
 * (protobufjs encoding proto-loader's object, defaults filled in), so a key stored by one of them
 * still recognizes its retry, and requests equal in meaning (an explicit zero, an absent field)
 * hash the same. test/protos/fingerprint.test.ts compares the two encodings.
 */
import { isFieldSet, ScalarType, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

type Plain = Record<string, unknown>;

export function canonicalBytes(schema: DescMessage, message: Message): Uint8Array {
  const writer = new BinaryWriter();
  writeMessage(writer, schema, message as unknown as Plain);
  return writer.finish();
}

const sorted = new WeakMap<DescMessage, DescField[]>();

function fieldsOf(schema: DescMessage): DescField[] {
  let fields = sorted.get(schema);
  if (fields === undefined) {
    fields = [...schema.fields].sort((a, b) => a.number - b.number);
    sorted.set(schema, fields);
  }
  return fields;
}

function writeMessage(writer: BinaryWriter, schema: DescMessage, message: Plain): void {
  for (const field of fieldsOf(schema)) {
    switch (field.fieldKind) {
      case 'list': {
        const items = message[field.localName] as unknown[];
        if (items.length === 0) break;
        if (field.packed) {
          writer.tag(field.number, WireType.LengthDelimited).fork();
          for (const item of items) writeScalar(writer, scalarOf(field), item);
          writer.join();
        } else {
          for (const item of items) writeValue(writer, field, item);
        }
        break;
      }
      case 'map': {
        const entries = message[field.localName] as Plain;
        for (const key of Object.keys(entries)) {
          writer.tag(field.number, WireType.LengthDelimited).fork();
          writer.tag(1, wireTypeOf(field.mapKey));
          writeScalar(writer, field.mapKey, mapKey(field.mapKey, key));
          writeValue(writer, field, entries[key], 2);
          writer.join();
        }
        break;
      }
      default: {
        let value: unknown;
        if (field.oneof !== undefined) {
          const selected = message[field.oneof.localName] as { case: string | undefined; value?: unknown };
          if (selected.case !== field.localName) break;
          value = selected.value;
        } else if (field.proto.proto3Optional === true || field.fieldKind === 'message') {
          if (!isFieldSet(message as unknown as Message, field)) break;
          value = message[field.localName];
        } else {
          value = message[field.localName];
        }
        writeValue(writer, field, value);
      }
    }
  }
}

/** A message, enum or scalar value of `field` under field number `number` (the field's own by default). */
function writeValue(writer: BinaryWriter, field: DescField, value: unknown, number = field.number): void {
  const nested = (field as { message?: DescMessage }).message;
  if (nested !== undefined) {
    writer.tag(number, WireType.LengthDelimited).fork();
    writeMessage(writer, nested, value as Plain);
    writer.join();
    return;
  }
  const scalar = scalarOf(field);
  writer.tag(number, wireTypeOf(scalar));
  writeScalar(writer, scalar, value);
}

/** Enums travel as int32. */
function scalarOf(field: DescField): ScalarType {
  return (field as { scalar?: ScalarType }).scalar ?? ScalarType.INT32;
}

function mapKey(scalar: ScalarType, key: string): unknown {
  if (scalar === ScalarType.BOOL) return key === 'true';
  if (scalar === ScalarType.STRING) return key;
  return key; // integers: BinaryWriter takes decimal strings for 64-bit, numbers for 32-bit (below)
}

function wireTypeOf(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

function writeScalar(writer: BinaryWriter, scalar: ScalarType, value: unknown): void {
  const n = (v: unknown) => (typeof v === 'string' ? Number(v) : (v as number));
  const long = value as bigint | string;
  switch (scalar) {
    case ScalarType.STRING: writer.string(value as string); break;
    case ScalarType.BYTES: writer.bytes(value as Uint8Array); break;
    case ScalarType.BOOL: writer.bool(value as boolean); break;
    case ScalarType.DOUBLE: writer.double(n(value)); break;
    case ScalarType.FLOAT: writer.float(n(value)); break;
    case ScalarType.INT32: writer.int32(n(value)); break;
    case ScalarType.UINT32: writer.uint32(n(value)); break;
    case ScalarType.SINT32: writer.sint32(n(value)); break;
    case ScalarType.FIXED32: writer.fixed32(n(value)); break;
    case ScalarType.SFIXED32: writer.sfixed32(n(value)); break;
    case ScalarType.INT64: writer.int64(long); break;
    case ScalarType.UINT64: writer.uint64(long); break;
    case ScalarType.SINT64: writer.sint64(long); break;
    case ScalarType.FIXED64: writer.fixed64(long); break;
    case ScalarType.SFIXED64: writer.sfixed64(long); break;
  }
}
