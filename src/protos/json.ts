/**
 * Canonical proto3 JSON for every message type this process knows, by @bufbuild/protobuf (which
 * passes the protobuf conformance suite): `Any` with `@type`, Timestamp and Duration as strings,
 * 64-bit integers as strings, enums by name. Messages cross this seam as wire bytes, so it works
 * whatever shape the rest of the code holds them in (proto-loader objects, google-protobuf classes).
 *
 * Types come from serialized FileDescriptorSets: longrun's own (`buf build`, DESCRIPTOR_SET_PATH)
 * and an embedding app's (its build, or `descriptorSetFromProtoFiles`).
 */
import { create, fromBinary, fromJson, toBinary, toJson, createFileRegistry, type DescMessage, type FileRegistry, type JsonValue } from '@bufbuild/protobuf';
import {
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { invalidArgument } from '../domain/errors.js';

export type { JsonValue } from '@bufbuild/protobuf';

export interface ToJsonOptions {
  /** Enums as numbers instead of names (`$alt=json;enum-encoding=int`, as Google's REST clients ask). */
  enumAsInteger?: boolean;
}

export interface FromJsonOptions {
  /** Fields the type does not have are ignored instead of refused (default: refused). */
  ignoreUnknownFields?: boolean;
}

const WELL_KNOWN_FILES = [
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
];

export class JsonCodec {
  /** The descriptors themselves, for what reads them beyond JSON (the HTTP gateway's route table). */
  readonly registry: FileRegistry;

  /** Files are de-duplicated by name and the first set wins, so pass longrun's set first. */
  constructor(descriptorSets: readonly Uint8Array[]) {
    const files = new Map<string, FileDescriptorProto>();
    for (const bytes of descriptorSets) {
      for (const file of fromBinary(FileDescriptorSetSchema, bytes).file) {
        if (!files.has(file.name)) files.set(file.name, file);
      }
    }
    // The well-known types TypeRegistry always knows, even where no set imports them (a method may
    // answer with a Struct or a wrapper): @bufbuild/protobuf carries their descriptors.
    for (const wkt of WELL_KNOWN_FILES) if (!files.has(wkt.proto.name)) files.set(wkt.proto.name, wkt.proto);
    this.registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...files.values()] }));
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
    const schema = this.schema(typeName);
    try {
      return toBinary(schema, fromJson(schema, json, { registry: this.registry, ignoreUnknownFields: options.ignoreUnknownFields ?? false }));
    } catch (error) {
      throw invalidArgument(field, `is not a valid ${typeName} in proto3 JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private schema(typeName: string): DescMessage {
    const schema = this.registry.getMessage(typeName);
    if (schema === undefined) throw new Error(`message type ${typeName} is not in the descriptor sets`);
    return schema;
  }
}
