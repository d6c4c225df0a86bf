/**
 * Canonical proto3 JSON for every message type this process knows, by @bufbuild/protobuf (which
 * passes the protobuf conformance suite): `Any` with `@type`, Timestamp and Duration as strings,
 * 64-bit integers as strings, enums by name. Messages cross this seam as wire bytes, so it works
 * whatever shape the rest of the code holds them in (proto-loader objects, google-protobuf classes).
 *
 * Types come from the one schema (src/protos/schema.ts).
 */
import { create, fromBinary, fromJson, toBinary, toJson, type DescMessage, type FileRegistry, type JsonValue } from '@bufbuild/protobuf';
import { invalidArgument } from '../domain/errors.js';
import { ParsedMessage } from './registry.js';
import { Schema } from './schema.js';

export type { JsonValue } from '@bufbuild/protobuf';

export interface ToJsonOptions {
  /** Enums as numbers instead of names (`$alt=json;enum-encoding=int`, as Google's REST clients ask). */
  enumAsInteger?: boolean;
}

export interface FromJsonOptions {
  /** Fields the type does not have are ignored instead of refused (default: refused). */
  ignoreUnknownFields?: boolean;
}

/** What a well-known type looks like in JSON, for a parse error that names one (its own words name none). */
const WELL_KNOWN_FORMS: [RegExp, string][] = [
  [/google\.protobuf\.Duration/, 'a Duration is a string of seconds ending in "s", e.g. "7200s" or "0.5s"'],
  [/google\.protobuf\.Timestamp/, 'a Timestamp is an RFC 3339 string, e.g. "2026-12-07T15:04:05Z"'],
  [/google\.protobuf\.FieldMask/, 'a FieldMask is a string of comma-separated camelCase paths, e.g. "title,pages"'],
];

function expectedFormOf(why: string): string {
  const form = WELL_KNOWN_FORMS.find(([type]) => type.test(why))?.[1];
  return form === undefined ? '' : ` (${form})`;
}

export class JsonCodec {
  /** The descriptors themselves, for what reads them beyond JSON (the HTTP gateway's route table). */
  readonly registry: FileRegistry;

  /** The schema, or serialized sets (files de-duplicated by name, the first set winning: pass longrun's set first). */
  constructor(source: Schema | readonly Uint8Array[]) {
    this.registry = (source instanceof Schema ? source : new Schema(source)).registry;
  }

  has(typeName: string): boolean {
    return this.registry.getMessage(typeName) !== undefined;
  }

  /** The JSON form of a message's wire bytes. Throws if the type (or a type inside an `Any`) is unknown. */
  toJson(typeName: string, bytes: Uint8Array, options: ToJsonOptions = {}): JsonValue {
    const schema = this.schema(typeName);
    return toJson(schema, fromBinary(schema, bytes), { registry: this.registry, enumAsInteger: options.enumAsInteger ?? false });
  }

  /**
   * The JSON form of a message given in @bufbuild/protobuf's init shape (`Any` as `{ typeUrl, value }`,
   * oneofs as `{ case, value }`), without going through bytes.
   */
  toJsonOf(typeName: string, init: Record<string, unknown>, options: ToJsonOptions = {}): JsonValue {
    const schema = this.schema(typeName);
    return toJson(schema, create(schema, init as never), { registry: this.registry, enumAsInteger: options.enumAsInteger ?? false });
  }

  /** The descriptor of a message type, or undefined. */
  message(typeName: string): DescMessage | undefined {
    return this.registry.getMessage(typeName);
  }

  /**
   * The wire bytes of a message given as JSON. Input that does not fit the type is the caller's
   * mistake: INVALID_ARGUMENT naming `field` (the request part the JSON came from) and the rule.
   */
  fromJson(typeName: string, json: JsonValue, field: string, options: FromJsonOptions = {}): Uint8Array {
    const parsed = this.parse(typeName, json, field, options);
    return toBinary(parsed.schema, parsed.message);
  }

  /** `fromJson`, parsed into a message once, to be encoded and handed on from there. */
  parse(typeName: string, json: JsonValue, field: string, options: FromJsonOptions = {}): ParsedMessage {
    const schema = this.schema(typeName);
    try {
      return new ParsedMessage(schema, fromJson(schema, json, { registry: this.registry, ignoreUnknownFields: options.ignoreUnknownFields ?? false }));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw invalidArgument(field, `is not a valid ${typeName} in proto3 JSON: ${why}${expectedFormOf(why)}`);
    }
  }

  private schema(typeName: string): DescMessage {
    const schema = this.registry.getMessage(typeName);
    if (schema === undefined) throw new Error(`message type ${typeName} is not in the descriptor sets`);
    return schema;
  }
}
