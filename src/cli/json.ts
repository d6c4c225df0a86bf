/**
 * Operations as the CLI prints them: canonical proto3 JSON (by JsonCodec, @bufbuild/protobuf), as
 * grpcurl and `buf curl` print them: Duration `"6s"`, Timestamp RFC 3339, enums by name, each `Any`
 * with its `@type`. Two choices of ours on top:
 * - `done` is always printed, `false` included (proto3 JSON may emit a default; scripts test it).
 * - An `Any` whose type this CLI does not know (an embedding app's message; the CLI knows longrun's
 *   and Vision's) is printed as `{"@type": URL, "value": BASE64}`, its bytes undecoded, instead of
 *   failing the whole print. proto3 JSON has no form for it; this is the shape it gives an Any of a
 *   well-known type, with the wire bytes as a `bytes` value.
 */
import { readFileSync } from 'node:fs';
import type { Any__Output } from '../gen/google/protobuf/Any.js';
import type { Operation__Output } from '../gen/google/longrunning/Operation.js';
import { JsonCodec, type JsonValue } from '../protos/json.js';
import { DESCRIPTOR_SET_PATH } from '../protos/paths.js';
import type { TypeRegistry } from '../protos/registry.js';

export class OperationJson {
  private readonly codec = new JsonCodec([readFileSync(DESCRIPTOR_SET_PATH)]);

  /** `registry` encodes the parts back to wire bytes; it must know google.protobuf.Any and google.rpc.Status. */
  constructor(private readonly registry: TypeRegistry) {}

  of(wire: Operation__Output): { [key: string]: JsonValue } {
    const json: { [key: string]: JsonValue } = { name: wire.name };
    if (wire.metadata) json['metadata'] = this.any(wire.metadata);
    json['done'] = wire.done;
    if (wire.error) {
      const status = this.codec.toJson('google.rpc.Status', this.registry.encode('google.rpc.Status', { code: wire.error.code, message: wire.error.message }));
      json['error'] = { ...(status as object), ...(wire.error.details.length > 0 && { details: wire.error.details.map((detail) => this.any(detail)) }) };
    }
    if (wire.response) json['response'] = this.any(wire.response);
    return json;
  }

  private any(any: Any__Output): JsonValue {
    // protobufjs names Any's fields as protoc does (type_url), whatever the case option.
    const bytes = this.registry.encode('google.protobuf.Any', { type_url: any.type_url, value: any.value });
    try {
      // "@type" first, as buf curl and grpcurl print it (@bufbuild/protobuf puts it last).
      const { '@type': type, ...fields } = this.codec.toJson('google.protobuf.Any', bytes) as { [key: string]: JsonValue };
      return { '@type': type!, ...fields };
    } catch {
      // Its type (or a type inside it) is not in the descriptor set.
      return { '@type': any.type_url, value: Buffer.from(any.value).toString('base64') };
    }
  }
}
