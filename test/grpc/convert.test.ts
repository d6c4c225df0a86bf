import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OperationRecord } from '../../src/domain/operation.js';
import { toOperationMessage } from '../../src/grpc/convert.js';

function record(done: boolean): OperationRecord {
  return {
    name: 'operations/abc',
    parent: '',
    method: '/longrun.testing.v1.Sleeper/Sleep',
    owner: 'default',
    done,
    progressPercent: done ? 100 : 10,
    cancelRequested: false,
    attempt: 1,
    maxAttempts: 3,
    createTime: 1,
    updateTime: 2,
    metadata: { typeUrl: 'type.googleapis.com/longrun.testing.v1.SleepMetadata', value: new Uint8Array([8, 1]) },
    ...(done && { response: { typeUrl: 'type.googleapis.com/google.protobuf.Empty', value: new Uint8Array() }, doneTime: 2 }),
  } as OperationRecord;
}

describe('toOperationMessage', { timeout: 10_000 }, () => {
  it("makes a finished operation's message once, frozen (so its bytes are kept too), and an unfinished one's each time", () => {
    const done = record(true);
    const first = toOperationMessage(done);
    assert.equal(toOperationMessage(done), first, 'the same message for the same finished record');
    assert.ok(Object.isFrozen(first));
    assert.deepEqual(first, { name: 'operations/abc', done: true, metadata: { type_url: 'type.googleapis.com/longrun.testing.v1.SleepMetadata', value: Buffer.from([8, 1]) }, response: { type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) } });
    const running = record(false);
    const a = toOperationMessage(running);
    const b = toOperationMessage(running);
    assert.notEqual(a, b, 'an unfinished operation may change: made anew');
    assert.equal(Object.isFrozen(a), false);
    assert.deepEqual(a, b);
  });
});
