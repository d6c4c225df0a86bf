import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LongrunError } from '../../src/domain/errors.js';
import { JsonCodec, type JsonValue } from '../../src/protos/json.js';
import { DESCRIPTOR_SET_PATH } from '../../src/protos/paths.js';
import { TypeRegistry } from '../../src/protos/registry.js';

const codec = new JsonCodec([readFileSync(DESCRIPTOR_SET_PATH)]);
const registry = new TypeRegistry(['google/longrunning/operations.proto', 'google/cloud/vision/v1/image_annotator.proto']);

function encode(typeName: string, value: Record<string, unknown>): Uint8Array {
  return registry.encode(typeName, value);
}

describe('JsonCodec', { timeout: 10_000 }, () => {
  it('prints Duration, Timestamp, enums, 64-bit integers and Any as canonical proto3 JSON', () => {
    const metadata = encode('google.cloud.vision.v1.OperationMetadata', { state: 2, createTime: { seconds: 1_700_000_000, nanos: 5_000_000 } });
    const wait = encode('google.longrunning.WaitOperationRequest', { name: 'operations/a', timeout: { seconds: 6 } });
    assert.deepEqual(codec.toJson('google.longrunning.WaitOperationRequest', wait), { name: 'operations/a', timeout: '6s' });
    const operation = encode('google.longrunning.Operation', {
      name: 'operations/a',
      metadata: { type_url: 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata', value: metadata },
    });
    assert.deepEqual(codec.toJson('google.longrunning.Operation', operation), {
      name: 'operations/a',
      metadata: { '@type': 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata', state: 'RUNNING', createTime: '2023-11-14T22:13:20.005Z' },
    });
    assert.deepEqual(codec.toJson('google.longrunning.Operation', operation, { enumAsInteger: true }), {
      name: 'operations/a',
      metadata: { '@type': 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata', state: 2, createTime: '2023-11-14T22:13:20.005Z' },
    });
  });

  it('reads JSON back to the same bytes, accepting proto names and enum numbers', () => {
    const bytes = codec.fromJson('google.longrunning.ListOperationsRequest', { name: 'operations', page_size: 5, filter: 'done = true' }, 'body');
    const decoded = registry.decode('google.longrunning.ListOperationsRequest', bytes);
    assert.equal(decoded['pageSize'] ?? decoded['page_size'], 5);
    assert.equal(decoded['filter'], 'done = true');
  });

  it('refuses unknown fields and wrong types as INVALID_ARGUMENT naming the request part', () => {
    const wrong: JsonValue[] = [{ nmae: 'x' }, { name: 7 }, { timeout: 'soon' }];
    for (const json of wrong) {
      assert.throws(
        () => codec.fromJson('google.longrunning.WaitOperationRequest', json, 'body'),
        (error: unknown) => error instanceof LongrunError && error.code === 3 && error.message.startsWith('body'),
      );
    }
  });

  it('a Duration or Timestamp that does not parse names the expected form', () => {
    for (const [json, form] of [
      [{ name: 'operations/a', timeout: '2h' }, /"7200s"/],
      [{ name: 'operations/a', timeout: 7200 }, /"7200s"/],
    ] as const) {
      assert.throws(
        () => codec.fromJson('google.longrunning.WaitOperationRequest', json as JsonValue, 'body'),
        (error: unknown) => error instanceof LongrunError && error.code === 3 && form.test(error.message) && /^body: /.test(error.message),
      );
    }
    assert.throws(
      () => codec.fromJson('google.cloud.vision.v1.OperationMetadata', { createTime: 'tomorrow' }, 'metadata'),
      (error: unknown) => error instanceof LongrunError && /RFC 3339/.test(error.message),
    );
  });

  it('knows the types of the sets it was given and no others', () => {
    assert.equal(codec.has('google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse'), true);
    assert.equal(codec.has('example.Nothing'), false);
    assert.throws(() => codec.toJson('example.Nothing', new Uint8Array()), /not in the descriptor sets/);
  });
});
