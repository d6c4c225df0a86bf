/**
 * grpc-js's service definitions, made by proto-loader from the schema's FileDescriptorSet (the one
 * set every runtime is fed from), once per schema.
 *
 * proto-loader keeps descriptor names as they are when it loads a set, where loading .proto text it
 * camelCases them (`keepCase: false` in LOADER_OPTIONS): handlers and src/gen's types have always
 * seen `pageSize`, not `page_size`. So the copy it is given has field and oneof names in the loader
 * shape (src/protos/loader-shape.ts), which changes nothing on the wire.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, type DescriptorProto } from '@bufbuild/protobuf/wkt';
import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from '@grpc/proto-loader';
import { loaderCase } from '../protos/loader-shape.js';
import { LOADER_OPTIONS } from '../protos/paths.js';
import type { Schema } from '../protos/schema.js';

const definitions = new WeakMap<Schema, PackageDefinition>();

export function packageDefinitionOf(schema: Schema): PackageDefinition {
  let definition = definitions.get(schema);
  if (definition === undefined) {
    // A fresh decode of the set, renamed in place: the schema's own bytes stay as built.
    const set = fromBinary(FileDescriptorSetSchema, schema.set);
    for (const file of set.file) {
      for (const message of file.messageType) toLoaderCase(message, `${file.package}.${message.name}`);
    }
    definition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)), LOADER_OPTIONS);
    definitions.set(schema, definition);
  }
  return definition;
}

function toLoaderCase(message: DescriptorProto, typeName: string): void {
  // google.protobuf.Any keeps `type_url`, as proto-loader has it from protobufjs's bundled JSON.
  if (typeName !== 'google.protobuf.Any') for (const field of message.field) field.name = loaderCase(field.name);
  for (const oneof of message.oneofDecl) oneof.name = loaderCase(oneof.name);
  for (const nested of message.nestedType) toLoaderCase(nested, `${typeName}.${nested.name}`);
}
