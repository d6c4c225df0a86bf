/**
 * Apps with protoc-generated google-protobuf classes (as grpc-tools users have) can hand those to
 * longrun as metadata and responses, and receive requests as them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import type * as DurationModule from 'google-protobuf/google/protobuf/duration_pb.js';
import type * as TimestampModule from 'google-protobuf/google/protobuf/timestamp_pb.js';
import type * as StructModule from 'google-protobuf/google/protobuf/struct_pb.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// google-protobuf's generated modules are CommonJS with no ESM entry points.
const require = createRequire(import.meta.url);
const { Duration } = require('google-protobuf/google/protobuf/duration_pb.js') as typeof DurationModule;
const { Timestamp } = require('google-protobuf/google/protobuf/timestamp_pb.js') as typeof TimestampModule;
const { Struct } = require('google-protobuf/google/protobuf/struct_pb.js') as typeof StructModule;

describe('google-protobuf generated classes', { timeout: 180_000 }, () => {
  let server: TestServer;
  let seenRequest: unknown;

  before(async () => {
    server = await startTestServer({
      sleeper: false,
      setup(longrun) {
        longrun.method<DurationModule.Duration, TimestampModule.Timestamp, StructModule.Struct>(
          SLEEP_METHOD,
          async (request, context) => {
            seenRequest = request;
            const started = new Timestamp();
            started.setSeconds(1_700_000_000);
            await context.setMetadata(started);
            return Struct.fromJavaScript({ slept: request.getSeconds(), unit: 'seconds' });
          },
          {
            // The app's own types for this method, as a grpc-tools user would declare them.
            metadataType: 'google.protobuf.Timestamp',
            responseType: 'google.protobuf.Struct',
            requestClass: {
              // SleepRequest's field 1 is a Duration: re-read the request as that message's class.
              deserializeBinary: (bytes: Uint8Array) => {
                const nested = server.longrun.registry.decode<{ duration: { seconds: string } }>('longrun.testing.v1.SleepRequest', bytes);
                const duration = new Duration();
                duration.setSeconds(Number(nested.duration.seconds));
                return duration;
              },
            },
          },
        );
      },
    });
  });
  after(() => server.close());

  it('packs generated messages into typed Anys and hands the request over as the class', async () => {
    const op = await server.longrun.create(SLEEP_METHOD, { duration: { seconds: 7, nanos: 0 } });
    const done = await server.longrun.wait(op.name, 5000);
    assert.ok(seenRequest instanceof Duration);
    assert.equal(done.metadata?.typeUrl, 'type.googleapis.com/google.protobuf.Timestamp');
    assert.equal(Timestamp.deserializeBinary(done.metadata.value).getSeconds(), 1_700_000_000);
    assert.equal(done.response?.typeUrl, 'type.googleapis.com/google.protobuf.Struct');
    assert.deepEqual(Struct.deserializeBinary(done.response.value).toJavaScript(), { slept: 7, unit: 'seconds' });
    // And a plain-object client sees the same bytes decoded by the registry.
    assert.deepEqual(server.longrun.registry.unpack(done.response), {
      fields: { slept: { numberValue: 7, kind: 'numberValue' }, unit: { stringValue: 'seconds', kind: 'stringValue' } },
    });
  });
});
