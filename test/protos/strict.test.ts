/**
 * The strict encoder (src/protos/strict.ts) over longrun's own descriptor set: every kind of field,
 * both shapes it accepts (proto-loader's and JSON's), and the path it names when a value does not fit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fromBinary, toJson } from '@bufbuild/protobuf';
import { JsonCodec } from '../../src/protos/json.js';
import { DESCRIPTOR_SET_PATH } from '../../src/protos/paths.js';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { encodeStrict, FieldProblem } from '../../src/protos/strict.js';

const codec = new JsonCodec([readFileSync(DESCRIPTOR_SET_PATH)]);
const registry = new TypeRegistry(['google/cloud/vision/v1/image_annotator.proto', 'google/rpc/error_details.proto']);

function schema(typeName: string) {
  const found = codec.message(typeName);
  assert.ok(found, typeName);
  return found;
}

/** The proto3 JSON of what `value` encodes to. */
function json(typeName: string, value: unknown): unknown {
  const type = schema(typeName);
  return toJson(type, fromBinary(type, encodeStrict(type, value, '')), { registry: codec.registry });
}

function problem(typeName: string, value: unknown): FieldProblem {
  try {
    encodeStrict(schema(typeName), value, '');
  } catch (error) {
    assert.ok(error instanceof FieldProblem, String(error));
    return error;
  }
  assert.fail('expected a FieldProblem');
}

describe('encodeStrict', { timeout: 30_000 }, () => {
  it('encodes enums by name or number, lists of messages, bytes as Uint8Array or base64', () => {
    const request = {
      requests: [
        {
          inputConfig: { content: Buffer.from('%PDF'), mimeType: 'application/pdf' },
          features: [{ type: 'DOCUMENT_TEXT_DETECTION', maxResults: 5 }, { type: 5 }],
        },
        { input_config: { content: Buffer.from('%PDF').toString('base64') } },
      ],
    };
    assert.deepEqual(json('google.cloud.vision.v1.AsyncBatchAnnotateFilesRequest', request), {
      requests: [
        { inputConfig: { content: 'JVBERg==', mimeType: 'application/pdf' }, features: [{ type: 'DOCUMENT_TEXT_DETECTION', maxResults: 5 }, { type: 'TEXT_DETECTION' }] },
        { inputConfig: { content: 'JVBERg==' } },
      ],
    });
  });

  it('names the path of a value that does not fit, inside lists and maps', () => {
    let found = problem('google.cloud.vision.v1.AsyncBatchAnnotateFilesRequest', { requests: [{}, { features: [{ type: 'OCR' }] }] });
    assert.equal(found.path, 'requests[1].features[0].type');
    assert.match(found.rule, /has no value "OCR" \(its values: TYPE_UNSPECIFIED, FACE_DETECTION/);
    found = problem('google.cloud.vision.v1.AsyncBatchAnnotateFilesRequest', { requests: [{ features: [{ maxResult: 5 }] }] });
    assert.equal(found.path, 'requests[0].features[0].maxResult');
    found = problem('google.rpc.ErrorInfo', { reason: 'R', metadata: { field: 7 } });
    assert.equal(found.path, 'metadata["field"]');
    assert.match(found.rule, /expected string/);
    found = problem('google.rpc.ErrorInfo', { metadata: ['a'] });
    assert.equal(found.path, 'metadata');
    found = problem('google.cloud.vision.v1.AsyncBatchAnnotateFilesRequest', { requests: [null] });
    assert.equal(found.path, 'requests[0]');
  });

  it('takes proto-loader\'s oneof property, and refuses one that names another field, or two fields of a oneof', () => {
    const decoded = registry.decode('google.protobuf.Struct', registry.encode('google.protobuf.Struct', { fields: { n: { numberValue: 7 } } }));
    assert.deepEqual(decoded, { fields: { n: { numberValue: 7, kind: 'numberValue' } } });
    assert.deepEqual(json('google.protobuf.Struct', decoded), { n: 7 });
    assert.equal(problem('google.protobuf.Value', { numberValue: 7, kind: 'stringValue' }).path, 'kind');
    assert.equal(problem('google.protobuf.Value', { numberValue: 7, stringValue: 'x' }).path, 'stringValue');
    assert.equal(problem('google.protobuf.Value', { kind: 'nonsense' }).path, 'kind');
  });

  it('takes 64-bit integers as strings, safe numbers and bigints, and proto3 optional fields with their virtual property', () => {
    const violation = { quotaValue: '9007199254740993', futureQuotaValue: 0n, _futureQuotaValue: 'futureQuotaValue', quota_dimensions: { region: 'eu' } };
    assert.deepEqual(json('google.rpc.QuotaFailure.Violation', violation), {
      quotaValue: '9007199254740993',
      futureQuotaValue: '0', // explicit presence: kept though zero
      quotaDimensions: { region: 'eu' },
    });
    assert.equal(problem('google.rpc.QuotaFailure.Violation', { quotaValue: 2 ** 60 }).path, 'quotaValue');
    assert.equal(problem('google.rpc.QuotaFailure.Violation', { quotaValue: '12abc' }).path, 'quotaValue');
    assert.equal(problem('google.rpc.QuotaFailure.Violation', { quotaValue: '99999999999999999999' }).path, 'quotaValue');
  });

  it('packChecked: a well-known type no proto imports (Struct) as plain object; whose mistake decides the code', () => {
    const checked = new TypeRegistry(['google/cloud/vision/v1/image_annotator.proto']);
    const any = checked.packChecked('google.protobuf.Struct', { fields: { slept: { numberValue: 7 } } }, 'response');
    assert.deepEqual(checked.unpack(any), { fields: { slept: { numberValue: 7, kind: 'numberValue' } } });
    const refusal = (part: 'request' | 'metadata' | 'response') => {
      try {
        checked.packChecked('google.rpc.ErrorInfo', { reasn: 'x' }, part);
      } catch (error) {
        assert.ok(error instanceof LongrunError);
        return error;
      }
      assert.fail('expected a refusal');
    };
    assert.deepEqual([refusal('request').code, refusal('request').metadata['field']], [Code.INVALID_ARGUMENT, 'reasn']);
    assert.deepEqual([refusal('metadata').code, refusal('metadata').reason, refusal('metadata').metadata['field']], [Code.INTERNAL, 'INVALID_METADATA', 'metadata.reasn']);
    assert.deepEqual([refusal('response').reason, refusal('response').metadata['field']], ['INVALID_RESPONSE', 'response.reasn']);
  });

  it('refuses what is not a message: a list, a class instance, a string', () => {
    assert.equal(problem('google.rpc.ErrorInfo', ['x']).path, '');
    assert.match(problem('google.rpc.ErrorInfo', new Date()).rule, /expected a google.rpc.ErrorInfo message \(a plain object\), got a Date/);
    assert.match(problem('google.rpc.ErrorInfo', 'reason').rule, /got "reason"/);
  });
});
