/**
 * The loader shape read from @bufbuild/protobuf messages (src/protos/loader-shape.ts), the
 * fingerprint's canonical bytes (src/protos/fingerprint.ts) and proto-loader fed from the schema's
 * set (src/grpc/definitions.ts) are each checked against what proto-loader and protobufjs made of
 * the .proto text before the one schema: the objects handlers see, key order included, and the
 * bytes earlier versions hashed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import type { MethodDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { packageDefinitionOf } from '../../src/grpc/definitions.js';
import { canonicalBytes } from '../../src/protos/fingerprint.js';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/protos/paths.js';
import { TypeRegistry } from '../../src/protos/registry.js';

const APP_PROTO = `syntax = "proto3";
package shapes.v1;
import "google/longrunning/operations.proto";
import "google/protobuf/any.proto";
import "google/protobuf/timestamp.proto";
enum Tone { TONE_UNSPECIFIED = 0; LOUD = 1; QUIET = 2; }
message Part { string id = 1; int64 weight = 2; }
message Everything {
  string display_name = 1;
  int32 count = 2;
  int64 big = 3;
  uint64 ubig = 4;
  sint64 sbig = 5;
  fixed64 fbig = 6;
  double ratio = 7;
  float share = 8;
  bool on = 9;
  bytes blob = 10;
  Tone tone = 11;
  Part part = 12;
  repeated Part parts = 13;
  repeated int32 numbers = 14;
  repeated string words = 15;
  repeated Tone tones = 16;
  map<string, Part> parts_by_name = 17;
  map<int32, string> names_by_number = 18;
  map<bool, Tone> tone_by_flag = 19;
  optional int32 maybe_count = 20;
  optional string maybe_name = 21;
  oneof choice {
    string choice_text = 22;
    Part choice_part = 23;
    int64 choice_big = 24;
  }
  google.protobuf.Any payload = 25;
  google.protobuf.Timestamp at = 26;
  repeated bytes blobs = 27;
  string field_1 = 28;
}
service Shapes {
  rpc Make(Everything) returns (google.longrunning.Operation);
}
`;

const VALUES: Record<string, Record<string, unknown>>[] = [
  { 'shapes.v1.Everything': {} },
  {
    'shapes.v1.Everything': {
      displayName: 'x',
      count: -3,
      big: '-9007199254740993',
      ubig: '18446744073709551615',
      sbig: '-5',
      fbig: '7',
      ratio: 0.25,
      share: 1.5,
      on: true,
      blob: Buffer.from([1, 2, 3]),
      tone: 'QUIET',
      part: { id: 'p', weight: '0' },
      parts: [{ id: 'a' }, {}],
      numbers: [0, 1, -1],
      words: ['', 'w'],
      tones: ['LOUD', 'TONE_UNSPECIFIED'],
      partsByName: { a: { id: 'a' }, '': {} },
      namesByNumber: { 1: 'one', '-2': 'minus two' },
      toneByFlag: { true: 'LOUD', false: 'QUIET' },
      maybeCount: 0,
      choicePart: { id: 'c' },
      payload: { type_url: 'type.googleapis.com/shapes.v1.Part', value: Buffer.from([10, 1, 120]) },
      at: { seconds: '1700000000', nanos: 5 },
      blobs: [Buffer.alloc(0), Buffer.from('z')],
      field_1: 'kept',
    },
  },
  { 'shapes.v1.Everything': { maybeName: '', choiceText: '', tone: 7 } },
  { 'shapes.v1.Everything': { choiceBig: '0' } },
  { 'google.rpc.ErrorInfo': { reason: 'R', domain: 'd', metadata: { k: 'v' } } },
  { 'google.rpc.QuotaFailure.Violation': { subject: 's', quotaValue: '12', futureQuotaValue: '0' } },
  { 'google.longrunning.Operation': { name: 'operations/a', done: true, response: { type_url: 'type.googleapis.com/x.Y', value: Buffer.from([8, 1]) } } },
  { 'google.longrunning.Operation': { name: 'operations/b', error: { code: 3, message: 'm', details: [] } } },
  { 'longrun.testing.v1.SleepRequest': { duration: { seconds: '2', nanos: 0 }, steps: 3 } },
  {
    'google.cloud.vision.v1.AsyncBatchAnnotateFilesRequest': {
      requests: [{ inputConfig: { gcsSource: { uri: 'gs://b/f.pdf' }, mimeType: 'application/pdf' }, features: [{ type: 'DOCUMENT_TEXT_DETECTION' }], pages: [1, 2] }],
    },
  },
];

/** Keys in order, all the way down, so that the comparison sees key order too. */
function ordered(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { buffer: [...value] };
  if (Array.isArray(value)) return value.map(ordered);
  if (value !== null && typeof value === 'object') return Object.entries(value).map(([k, v]) => [k, ordered(v)]);
  return value;
}

describe('the loader shape, the fingerprint and proto-loader from the set', { timeout: 60_000 }, () => {
  let dir: string;
  let registry: TypeRegistry;
  let root: protobuf.Root;
  let fromText: PackageDefinition;
  const files = ['shapes/v1/shapes.proto', 'google/rpc/error_details.proto', 'longrun/testing/v1/sleeper.proto', 'google/cloud/vision/v1/image_annotator.proto'];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'longrun-shapes-'));
    mkdirSync(dirname(join(dir, files[0]!)), { recursive: true });
    writeFileSync(join(dir, files[0]!), APP_PROTO);
    registry = new TypeRegistry(files, [dir]);
    // What handlers saw before: protobufjs loading the .proto text as proto-loader does.
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => [dir, PROTO_DIR].map((d) => join(d, target)).find((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    }) ?? target;
    fromText = loadSync(files, { ...LOADER_OPTIONS, includeDirs: [dir, PROTO_DIR] });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** protobufjs as proto-loader configures it, from the .proto text. */
  function textType(typeName: string): protobuf.Type {
    if (root.files.length === 0) {
      root.loadSync(files, { keepCase: false });
      root.resolveAll();
    }
    return root.lookupType(typeName);
  }

  test('decode gives the object proto-loader gave, key order included', () => {
    for (const entry of VALUES) {
      const [typeName, value] = Object.entries(entry)[0]!;
      const type = textType(typeName);
      const bytes = type.encode(type.fromObject(value)).finish();
      const theirs = type.toObject(type.decode(bytes), LOADER_OPTIONS);
      assert.deepEqual(ordered(registry.decode(typeName, bytes)), ordered(theirs), typeName);
    }
  });

  test('the fingerprint hashes the bytes earlier versions hashed', () => {
    for (const entry of VALUES) {
      const [typeName, value] = Object.entries(entry)[0]!;
      const type = textType(typeName);
      const bytes = type.encode(type.fromObject(value)).finish();
      // Earlier versions: the decoded object (defaults filled in) encoded again by protobufjs.
      const before = type.encode(type.fromObject(type.toObject(type.decode(bytes), LOADER_OPTIONS))).finish();
      const parsed = registry.parseBytes(typeName, bytes);
      assert.deepEqual([...canonicalBytes(parsed.schema, parsed.message)], [...before], typeName);
    }
  });

  test('proto-loader fed from the set decodes and encodes as proto-loader fed the .proto text', () => {
    const fromSet = packageDefinitionOf(registry.schema);
    const make = (definition: PackageDefinition) => (definition['shapes.v1.Shapes'] as unknown as Record<string, MethodDefinition<unknown, unknown>>)['Make']!;
    assert.ok('format' in fromSet['shapes.v1.Everything']!);
    const type = textType('shapes.v1.Everything');
    for (const entry of VALUES.filter((e) => 'shapes.v1.Everything' in e)) {
      const bytes = Buffer.from(type.encode(type.fromObject(entry['shapes.v1.Everything']!)).finish());
      const [ours, theirs] = [make(fromSet), make(fromText)].map((method) => method.requestDeserialize(bytes));
      // Same keys and values; protobufjs built from descriptors orders a repeated bytes field after the maps.
      assert.deepEqual(ours, theirs);
      assert.deepEqual([...make(fromSet).requestSerialize(theirs)], [...make(fromText).requestSerialize(theirs)]);
      assert.deepEqual(ordered(registry.decode('shapes.v1.Everything', bytes)), ordered(theirs));
    }
  });
});
