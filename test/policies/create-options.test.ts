import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { effectiveTimeout, policiesFromHeaders, policiesFromOptions, policyHeaders } from '../../src/operations/create-options.js';

function refused(run: () => unknown, field: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LongrunError);
    assert.equal(error.code, Code.INVALID_ARGUMENT);
    assert.equal(error.metadata['field'], field);
    assert.ok(error.message.startsWith(`${field}: `), error.message);
    return true;
  });
}

const headers = (values: Record<string, string>) => (name: string) => values[name];

describe('create options (headers and the embedding API)', { timeout: 10_000 }, () => {
  it('reads every policy header', () => {
    const policies = policiesFromHeaders(
      headers({
        'longrun-timeout': '1.5s',
        'longrun-start-time': '2030-01-01T00:00:00Z',
        'longrun-start-deadline': '2030-01-01T01:00:00.001+01:00',
        'longrun-priority': '-7',
        'longrun-concurrency-key': 'tenant-42',
      }),
    );
    assert.deepEqual(policies, {
      timeoutMs: 1500,
      startTime: Date.parse('2030-01-01T00:00:00Z'),
      startDeadline: Date.parse('2030-01-01T00:00:00Z') + 1,
      priority: -7,
      concurrencyKey: 'tenant-42',
      fields: {
        timeoutMs: 'longrun-timeout',
        startTime: 'longrun-start-time',
        startDeadline: 'longrun-start-deadline',
        priority: 'longrun-priority',
        concurrencyKey: 'longrun-concurrency-key',
      },
    });
  });

  it('refuses bad values naming the header', () => {
    refused(() => policiesFromHeaders(headers({ 'longrun-priority': 'high' })), 'longrun-priority');
    refused(() => policiesFromHeaders(headers({ 'longrun-priority': '5000' })), 'longrun-priority');
    refused(() => policiesFromHeaders(headers({ 'longrun-start-time': 'tomorrow' })), 'longrun-start-time');
    refused(() => policiesFromHeaders(headers({ 'longrun-start-deadline': '2030-01-01' })), 'longrun-start-deadline');
    refused(() => policiesFromHeaders(headers({ 'longrun-timeout': '-5s' })), 'longrun-timeout');
    refused(() => policiesFromHeaders(headers({ 'longrun-timeout': '0s' })), 'longrun-timeout');
    refused(() => policiesFromHeaders(headers({ 'longrun-timeout': '30' })), 'longrun-timeout');
    refused(() => policiesFromHeaders(headers({ 'longrun-concurrency-key': '' })), 'longrun-concurrency-key');
    refused(() => policiesFromHeaders(headers({ 'longrun-concurrency-key': 'x'.repeat(257) })), 'longrun-concurrency-key');
    refused(
      () => policiesFromHeaders(headers({ 'longrun-start-time': '2030-01-02T00:00:00Z', 'longrun-start-deadline': '2030-01-01T00:00:00Z' })),
      'longrun-start-deadline',
    );
  });

  it("takes the embedding API's typed options, naming the option in errors", () => {
    const start = new Date('2030-01-01T00:00:00Z');
    assert.deepEqual(policiesFromOptions({ startTime: start, timeout: 2000, priority: 3 }), {
      startTime: start.getTime(),
      timeoutMs: 2000,
      priority: 3,
      fields: { startTime: 'startTime', timeoutMs: 'timeout', priority: 'priority' },
    });
    assert.equal(policiesFromOptions({ timeout: '30s' }).timeoutMs, 30_000);
    refused(() => policiesFromOptions({ priority: 1.5 }), 'priority');
    refused(() => policiesFromOptions({ timeout: -1 }), 'timeout');
    refused(() => policiesFromOptions({ startTime: new Date('nope') }), 'startTime');
  });

  it('gives clients the headers for typed options, which read back the same', () => {
    const options = { timeout: 1500, startTime: new Date('2030-01-01T00:00:00Z'), priority: 2, concurrencyKey: 'k' };
    const sent = policyHeaders(options);
    const read = policiesFromHeaders((name) => sent[name]);
    assert.deepEqual({ ...sent }, {
      'longrun-timeout': '1.5s',
      'longrun-start-time': '2030-01-01T00:00:00.000Z',
      'longrun-priority': '2',
      'longrun-concurrency-key': 'k',
    });
    const given = policiesFromOptions(options);
    assert.deepEqual({ ...read, fields: {} }, { ...given, fields: {} });
  });

  it("never lets an operation's timeout exceed its method's", () => {
    const policies = policiesFromHeaders(headers({ 'longrun-timeout': '60s' }));
    refused(() => effectiveTimeout(policies, 30_000), 'longrun-timeout');
    assert.equal(effectiveTimeout(policies, 120_000), 60_000);
    assert.equal(effectiveTimeout({ fields: {} }, 30_000), 30_000);
  });
});
