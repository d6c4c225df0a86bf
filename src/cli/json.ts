/**
 * Operations as the CLI prints them: canonical proto3 JSON (by JsonCodec, @bufbuild/protobuf), as
 * grpcurl and `buf curl` print them: Duration `"6s"`, Timestamp RFC 3339, enums by name, each `Any`
 * with its `@type`. Choices of ours on top:
 * - `done` is always printed, `false` included (proto3 JSON may emit a default; scripts test it).
 * - Types the CLI does not know (an embedding app's; it knows longrun's and Vision's) are asked of
 *   the server's reflection service, as grpcurl and `buf curl` do.
 * - An `Any` whose type stays unknown (no reflection, or it does not know the type either) is
 *   printed as `{"@type": URL, "value": BASE64}`, its bytes undecoded, instead of failing the whole
 *   print. proto3 JSON has no form for it; this is the shape it gives an Any of a well-known type.
 */
import type { Any__Output } from '../gen/google/protobuf/Any.js';
import type { Operation__Output } from '../gen/google/longrunning/Operation.js';
import { encodeSet } from '../protos/descriptor-set.js';
import { JsonCodec, type JsonValue } from '../protos/json.js';
import { anyJson } from '../protos/operation-json.js';
import { typeNameOf, type TypeRegistry } from '../protos/registry.js';
import { longrunDescriptorSet } from '../protos/schema.js';

/** Serialized FileDescriptorProtos of the file declaring a type and of its imports; [] if unknown. */
export type DescribeType = (typeName: string) => Promise<Uint8Array[]>;

export class OperationJson {
  private readonly ours = longrunDescriptorSet();
  private codec = new JsonCodec([this.ours]);
  private readonly learnt: Uint8Array[] = [];
  private readonly asked = new Set<string>();

  /** `registry` encodes the parts back to wire bytes; it must know google.protobuf.Any and google.rpc.Status. */
  constructor(
    private readonly registry: TypeRegistry,
    private readonly describe?: DescribeType,
  ) {}

  /** Learns, by `describe`, the types of these operations' Anys that are not known yet. Never throws. */
  async learnTypesOf(operations: readonly Operation__Output[]): Promise<void> {
    const unknown = new Set<string>();
    for (const wire of operations) {
      for (const any of [wire.metadata, wire.response, ...(wire.error?.details ?? [])]) {
        const type = any ? typeNameOf(any.type_url) : undefined;
        if (type !== undefined && !this.codec.has(type) && !this.asked.has(type)) unknown.add(type);
      }
    }
    if (this.describe === undefined || unknown.size === 0) return;
    for (const type of unknown) {
      this.asked.add(type);
      try {
        this.learnt.push(...(await this.describe(type)));
      } catch {
        // No reflection there: such Anys print undecoded.
      }
    }
    try {
      this.codec = new JsonCodec([this.ours, encodeSet(this.learnt)]);
    } catch {
      // The server's files do not form a whole (an import missing): keep what we had.
    }
  }

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
    return anyJson(this.codec, { typeUrl: any.type_url, value: any.value });
  }
}
