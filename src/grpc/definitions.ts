/**
 * grpc-js's service definitions, made by proto-loader from the schema (the one FileDescriptorSet
 * every runtime is fed from), once per schema.
 *
 * Why proto-loader's `fromJSON` rather than `loadFileDescriptorSetFromBuffer`: loading a set,
 * protobufjs (ext/descriptor) keeps map fields as lists of entry messages (`[{ key, value }]` where
 * handlers have always had `{ key: value }`) and descriptor names as written (`page_size`), where
 * proto-loader loading .proto text camelCases them (`keepCase: false`, LOADER_OPTIONS). So the set's
 * descriptors are handed over in protobufjs's JSON form, with maps as maps and names in the loader
 * shape (src/protos/loader-shape.ts). test/protos/loader-shape.test.ts checks the result against
 * proto-loader fed the .proto text: the same objects and the same bytes.
 */
import { ScalarType, type DescEnum, type DescField, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';
import { loaderCase, loaderName } from '../protos/loader-shape.js';
import { LOADER_OPTIONS } from '../protos/paths.js';
import type { Schema } from '../protos/schema.js';

type Json = Record<string, unknown>;

const definitions = new WeakMap<Schema, PackageDefinition>();

export function packageDefinitionOf(schema: Schema): PackageDefinition {
  let definition = definitions.get(schema);
  if (definition === undefined) {
    definition = fromJSON(rootJson(schema), LOADER_OPTIONS);
    definitions.set(schema, definition);
  }
  return definition;
}

function rootJson(schema: Schema): Json {
  const root: Json = {};
  for (const file of schema.registry.files) {
    let nested = root;
    for (const part of file.proto.package === '' ? [] : file.proto.package.split('.')) {
      const namespace = (nested[part] ??= { nested: {} }) as { nested: Json };
      nested = namespace.nested;
    }
    for (const message of file.messages) nested[message.name] = messageJson(message);
    for (const enumType of file.enums) nested[enumType.name] = enumJson(enumType);
    for (const service of file.services) nested[service.name] = serviceJson(service);
  }
  return { nested: root };
}

function messageJson(message: DescMessage): Json {
  const fields: Json = {};
  const oneofs: Record<string, { oneof: string[] }> = {};
  for (const field of message.fields) {
    const name = loaderName(field);
    fields[name] = fieldJson(field);
    if (field.oneof !== undefined) (oneofs[loaderCase(field.oneof.name)] ??= { oneof: [] }).oneof.push(name);
    // proto3 `optional`: a synthetic oneof of its own, as protobufjs's parser makes it.
    else if (field.proto.proto3Optional) oneofs[`_${name}`] = { oneof: [name] };
  }
  const nested: Json = {};
  for (const inner of message.nestedMessages) nested[inner.name] = messageJson(inner);
  for (const inner of message.nestedEnums) nested[inner.name] = enumJson(inner);
  return {
    // Without it protobufjs takes proto2's rules (repeated scalars unpacked).
    edition: message.file.proto.syntax === 'proto2' ? 'proto2' : 'proto3',
    fields,
    ...(Object.keys(oneofs).length > 0 && { oneofs }),
    ...(Object.keys(nested).length > 0 && { nested }),
  };
}

function fieldJson(field: DescField): Json {
  const json: Json = { id: field.number, type: typeOf(field) };
  if (field.fieldKind === 'list') json['rule'] = 'repeated';
  if (field.fieldKind === 'map') json['keyType'] = SCALAR_NAMES[field.mapKey];
  const options: Json = {};
  if (field.proto.proto3Optional) options['proto3_optional'] = true;
  if (field.fieldKind === 'list' && field.listKind !== 'message' && !field.packed) options['packed'] = false;
  if (Object.keys(options).length > 0) json['options'] = options;
  return json;
}

function typeOf(field: DescField): string {
  const described = field as { message?: DescMessage; enum?: DescEnum; scalar?: ScalarType };
  if (described.message !== undefined) return `.${described.message.typeName}`;
  if (described.enum !== undefined) return `.${described.enum.typeName}`;
  return SCALAR_NAMES[described.scalar!];
}

function enumJson(enumType: DescEnum): Json {
  return { values: Object.fromEntries(enumType.values.map((value) => [value.name, value.number])) };
}

function serviceJson(service: DescService): Json {
  return {
    methods: Object.fromEntries(
      service.methods.map((method) => [
        method.name,
        {
          requestType: `.${method.input.typeName}`,
          responseType: `.${method.output.typeName}`,
          ...(method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming' ? { requestStream: true } : {}),
          ...(method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming' ? { responseStream: true } : {}),
        },
      ]),
    ),
  };
}

const SCALAR_NAMES: Record<ScalarType, string> = {
  [ScalarType.DOUBLE]: 'double',
  [ScalarType.FLOAT]: 'float',
  [ScalarType.INT64]: 'int64',
  [ScalarType.UINT64]: 'uint64',
  [ScalarType.INT32]: 'int32',
  [ScalarType.FIXED64]: 'fixed64',
  [ScalarType.FIXED32]: 'fixed32',
  [ScalarType.BOOL]: 'bool',
  [ScalarType.STRING]: 'string',
  [ScalarType.BYTES]: 'bytes',
  [ScalarType.UINT32]: 'uint32',
  [ScalarType.SFIXED32]: 'sfixed32',
  [ScalarType.SFIXED64]: 'sfixed64',
  [ScalarType.SINT32]: 'sint32',
  [ScalarType.SINT64]: 'sint64',
};
