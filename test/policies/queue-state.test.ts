/** What clients are told about an operation that waits: the status monitor and the watch stream agree. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '../../src/domain/errors.js';
import type { OperationRecord } from '../../src/domain/operation.js';
import { toWatchMessage } from '../../src/grpc/watch.js';
import { queueStateOf } from '../../src/operations/queue-state.js';
import { statusMonitor } from '../../src/operations/status-monitor.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function record(extra: Partial<OperationRecord>): OperationRecord {
  return {
    name: 'operations/a',
    parent: '',
    method: '/m/M',
    owner: 'alice',
    done: false,
    progressPercent: 0,
    leaseExpiresAt: 0,
    attempt: 0,
    maxAttempts: 3,
    cancelRequested: false,
    createTime: NOW - 1000,
    updateTime: NOW - 1000,
    runAfter: 0,
    priority: 0,
    ...extra,
  };
}

describe('queue transparency', { timeout: 10_000 }, () => {
  it('says why an operation waits and when it is due', () => {
    assert.deepEqual(queueStateOf(record({ runAfter: NOW + 5000 }), NOW), { reason: 'scheduled', estimatedStart: NOW + 5000 });
    assert.deepEqual(queueStateOf(record({ attempt: 1, runAfter: NOW + 2000 }), NOW), { reason: 'retry_scheduled', estimatedStart: NOW + 2000 });
    assert.deepEqual(queueStateOf(record({ runAfter: NOW - 1 }), NOW), { reason: 'queued' });
    assert.deepEqual(queueStateOf(record({ leaseHolder: 'r', leaseExpiresAt: NOW - 1, attempt: 1 }), NOW), { reason: 'queued' }, 'a lease that ran out');
    assert.equal(queueStateOf(record({ leaseHolder: 'r', leaseExpiresAt: NOW + 1000, attempt: 1 }), NOW), undefined, 'running');
    assert.equal(queueStateOf(record({ done: true, response: { typeUrl: 't', value: new Uint8Array() } }), NOW), undefined, 'done');
  });

  it('shows it in the status monitor and the watch stream', () => {
    const waiting = record({ attempt: 1, runAfter: NOW + 2000, lastError: { code: Code.UNAVAILABLE, message: 'flaky' }, priority: 4, concurrencyKey: 'k' });
    const monitor = statusMonitor(waiting, () => null, NOW);
    assert.deepEqual(
      [monitor.status, monitor.waiting, monitor.estimated_start, monitor.attempt, monitor.max_attempts, monitor.last_error, monitor.priority, monitor.concurrency_key],
      ['pending', 'retry_scheduled', new Date(NOW + 2000).toISOString(), 1, 3, { code: Code.UNAVAILABLE, message: 'flaky', status: 'UNAVAILABLE' }, 4, 'k'],
    );
    const message = toWatchMessage(waiting, NOW);
    assert.deepEqual(
      [message.attempt, message.waitingReason, message.estimatedStartTime, message.lastError],
      [1, 'retry_scheduled', { seconds: String((NOW + 2000) / 1000), nanos: 0 }, { code: Code.UNAVAILABLE, message: 'flaky' }],
    );
    const running = toWatchMessage(record({ leaseHolder: 'r', leaseExpiresAt: NOW + 1000, attempt: 2 }), NOW);
    assert.deepEqual([running.attempt, running.waitingReason, running.estimatedStartTime], [2, undefined, undefined]);
  });
});
