/**
 * The schema: ONE serialized google.protobuf.FileDescriptorSet that describes every message,
 * service and option this process knows, and the @bufbuild/protobuf registry made from it. Every
 * runtime is fed from this one set (see docs/schema.md): binary and JSON through @bufbuild/protobuf,
 * grpc-js through proto-loader (src/grpc/definitions.ts), server reflection (src/grpc/reflection.ts).
 *
 * longrun's own protos are described at build time by `buf build` (src/gen/descriptors.binpb); an
 * embedding app's `protoFiles` are compiled once, here, at start (src/protos/compile.ts).
 */
import { readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, toBinary, type FileRegistry } from '@bufbuild/protobuf';
import {
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import { descriptorSetFromProtoFiles } from './compile.js';
import { encodeSet, uniqueFiles } from './descriptor-set.js';
import { DESCRIPTOR_SET_PATH } from './paths.js';

/**
 * Well-known types always known, even where no file imports them (a method may answer with a
 * Struct or a wrapper): @bufbuild/protobuf carries their descriptors.
 */
const WELL_KNOWN_FILES = [
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
];

let longrunSet: Uint8Array | undefined;

/** longrun's own FileDescriptorSet, built by `buf build` (scripts/gen.mjs); read once per process. */
export function longrunDescriptorSet(): Uint8Array {
  longrunSet ??= new Uint8Array(readFileSync(DESCRIPTOR_SET_PATH));
  return longrunSet;
}

let longrunOnly: Schema | undefined;

/** A schema of longrun's own set alone (for clients), made once per process. */
export function longrunSchema(): Schema {
  longrunOnly ??= new Schema([longrunDescriptorSet()]);
  return longrunOnly;
}

export class Schema {
  /** The one FileDescriptorSet, serialized: each file as it was built. */
  readonly set: Uint8Array;
  /** The same files as @bufbuild/protobuf descriptors: binary, JSON, strict checks, routes, method info. */
  readonly registry: FileRegistry;

  /**
   * longrun's set and the app's `protoFiles` (relative to `includeDirs`; longrun's proto/ is
   * searched too). Files longrun's set describes (its own protos, Google's Vision) are taken from
   * it; the rest are compiled, once.
   */
  static load(protoFiles: readonly string[] = [], includeDirs: readonly string[] = []): Schema {
    const ours = longrunDescriptorSet();
    const known = new Set(uniqueFiles([ours]).keys());
    const missing = protoFiles.filter((file) => !known.has(file));
    return missing.length === 0 ? longrunSchema() : new Schema([ours, descriptorSetFromProtoFiles(missing, includeDirs, ours)]);
  }

  /** The union of serialized sets; files are de-duplicated by name and the first set wins. */
  constructor(sets: readonly Uint8Array[]) {
    const files = uniqueFiles(sets);
    for (const wkt of WELL_KNOWN_FILES) {
      if (!files.has(wkt.proto.name)) files.set(wkt.proto.name, toBinary(FileDescriptorProtoSchema, wkt.proto));
    }
    this.set = encodeSet(files.values());
    // Resolving every reference here makes a missing import fail at start, not in a client.
    this.registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, this.set));
  }
}
