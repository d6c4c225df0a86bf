/**
 * Completion callbacks end to end in one process: a real server on loopback, operations started
 * over HTTP and gRPC with a callback URL, a real receiver; every delivery is checked by the
 * standardwebhooks package. Retry schedules are compressed to milliseconds.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { signatureHeader, parseSecrets } from '../../src/callbacks/sign.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { http } from '../helpers/http.js';
import { newSecret, startReceiver, verified, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';
import { eventually } from '../helpers/wait.js';

const SECRET = newSecret();

describe('completion callbacks', { timeout: 120_000 }, () => {
  let server: TestServer;
  let receiver: Receiver;
  let endpoint: Receiver;

  /** Every log line, raw: what must never be in them is checked on the text. */
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });

  before(async () => {
    endpoint = await startReceiver(0, '/every-operation');
    server = await startTestServer({
      http: {},
      logger,
      callbacks: {
        secrets: [SECRET],
        allow: ['127.0.0.1'],
        retrySchedule: [40, 40, 40, 1500],
        attemptTimeoutMs: 300,
        endpoints: { someone: [endpoint.url] },
      },
    });
  });
  after(async () => {
    await server.close();
    await endpoint.close();
  });
  afterEach(async () => receiver?.close());

  const start = (body: Record<string, unknown>, callbackUrl: string) =>
    http('POST', `${server.httpUrl}/v1/sleep`, { body, headers: { 'Longrun-Callback-Url': callbackUrl } });
  const deliveriesOf = (name: string) => server.longrun.store.listDeliveries({ operation: name, limit: 10 });

  it('POSTs the end of an operation, signed: the verifier accepts it, and refuses it tampered or old', async () => {
    receiver = await startReceiver();
    const created = await start({ duration: '0s', steps: 1 }, receiver.url);
    assert.equal(created.status, 202);
    const name: string = created.json.name;
    const [delivery] = await receiver.count(1);
    const payload = verified(SECRET, delivery!);
    assert.equal(delivery!.headers['content-type'], 'application/json');
    assert.match(String(delivery!.headers['webhook-id']), /^msg_[0-9a-f]{32}$/);
    assert.equal(payload.type, 'operation.succeeded');
    assert.equal(payload.id, name);
    assert.equal(payload.status, 'succeeded');
    assert.ok(Date.parse(payload.created_at) <= Date.parse(payload.updated_at));
    assert.equal(payload.result['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.deepEqual([payload.operation.name, payload.operation.done], [name, true]);
    assert.equal(payload.operation.response['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.equal(payload.data, undefined, 'the status fields are at the top level, where the documents put them');

    const headers = { 'webhook-id': String(delivery!.headers['webhook-id']), 'webhook-timestamp': String(delivery!.headers['webhook-timestamp']), 'webhook-signature': String(delivery!.headers['webhook-signature']) };
    assert.throws(() => new Webhook(SECRET).verify(delivery!.body.replace('succeeded', 'failed'), headers), /signature/i);
    const old = Math.floor(Date.now() / 1000) - 3600;
    const resigned = { ...headers, 'webhook-timestamp': String(old), 'webhook-signature': signatureHeader(parseSecrets(SECRET), headers['webhook-id'], old, delivery!.body) };
    assert.throws(() => new Webhook(SECRET).verify(delivery!.body, resigned), /timestamp/i);
    await eventually(async () => (await deliveriesOf(name))[0]?.state === 'delivered', 'the delivery recorded as delivered');
  });

  it('sends failures and cancellations too, and gRPC metadata registers the same way', async () => {
    receiver = await startReceiver();
    const failed = await server.call<{ name: string }>(
      SLEEP_METHOD,
      { duration: { seconds: 0 }, failWith: { code: 5, message: 'no such thing' } },
      { 'longrun-callback-url': receiver.url },
    );
    const running = await start({ duration: '60s', steps: 60 }, receiver.url);
    await http('POST', `${server.httpUrl}/v1/${running.json.name}:cancel`);
    const received = (await receiver.count(2)).map((r) => verified(SECRET, r));
    const byId = new Map(received.map((payload) => [payload.id, payload]));
    assert.equal(byId.get(failed.name)?.type, 'operation.failed');
    assert.deepEqual(byId.get(failed.name)?.error, { code: 5, message: 'no such thing', status: 'NOT_FOUND' });
    assert.equal(byId.get(running.json.name)?.type, 'operation.cancelled');
    assert.equal(byId.get(running.json.name)?.operation.error.code, 1);
  });

  it('keeps one webhook-id while the receiver is down, and delivers once it is back', async () => {
    // A port that refuses connections until the receiver starts on it.
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const created = await start({ duration: '0s', steps: 1 }, `http://127.0.0.1:${port}/hooks/longrun`);
    const name: string = created.json.name;
    await eventually(async () => ((await deliveriesOf(name))[0]?.attempts ?? 0) >= 3, 'three refused attempts', 10_000);
    receiver = await startReceiver(port);
    const [delivery] = await receiver.count(1);
    verified(SECRET, delivery!);
    await eventually(async () => (await deliveriesOf(name))[0]?.state === 'delivered', 'the delivery recorded as delivered');
    const [record] = await deliveriesOf(name);
    assert.equal(delivery!.headers['webhook-id'], record!.id, 'the same webhook-id as every earlier attempt');
    assert.ok(record!.attempts >= 4);
    assert.equal(receiver.ids().size, 1);
  });

  it('stops at a 410: that delivery and later ones to the URL end gone, and nothing more is sent there', async () => {
    receiver = await startReceiver();
    receiver.answer = () => ({ status: 410 });
    const first = await start({ duration: '0s', steps: 1 }, receiver.url);
    await receiver.count(1);
    await eventually(async () => (await deliveriesOf(first.json.name))[0]?.state === 'gone', 'the delivery ends gone');
    const second = await start({ duration: '0s', steps: 1 }, receiver.url);
    await server.longrun.wait(second.json.name, 5000);
    const [record] = await deliveriesOf(second.json.name);
    assert.deepEqual([record?.state, record?.attempts], ['gone', 0]);
    assert.equal(receiver.received.length, 1);
  });

  it('retries a receiver that never answers, honouring the schedule, then keeps the delivery dead', async () => {
    receiver = await startReceiver();
    receiver.answer = () => 'hang';
    const created = await start({ duration: '0s', steps: 1 }, receiver.url);
    await eventually(async () => (await deliveriesOf(created.json.name))[0]?.state === 'dead', 'the delivery ends dead', 15_000);
    const [record] = await deliveriesOf(created.json.name);
    assert.equal(record!.attempts, 5, 'the first attempt and one per delay of the schedule');
    assert.equal(record!.lastError, 'timeout');
    assert.equal(receiver.received.length, 5);
    assert.equal(receiver.ids().size, 1);
    const gaps = receiver.received.slice(1).map((r, i) => r.at - receiver.received[i]!.at);
    assert.ok(gaps.every((gap) => gap >= 300), `each retry after the timeout and the delay: ${gaps}`);
  });

  it('honours Retry-After on a 503', async () => {
    receiver = await startReceiver();
    receiver.answer = (_request, index) => (index === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 });
    await start({ duration: '0s', steps: 1 }, receiver.url);
    const [first, second] = await receiver.count(2);
    assert.ok(second!.at - first!.at >= 950, `waited ${second!.at - first!.at} ms for a Retry-After of 1 s`);
  });

  it('refuses a URL the rules or the address policy refuse with INVALID_ARGUMENT naming the field, and creates nothing', async () => {
    const before = (await server.longrun.store.list({ parent: '', limit: 1000, now: Date.now() })).length;
    for (const url of ['http://10.0.0.7/hook', 'https://user:pw@hooks.example.com/', 'ftp://hooks.example.com/', 'http://hooks.example.com/', 'https://169.254.169.254/', 'https://[::1]/', 'not a url']) {
      const reply = await start({ duration: '0s' }, url);
      assert.equal(reply.status, 400, url);
      assert.equal(reply.json.error.status, 'INVALID_ARGUMENT', url);
      assert.match(reply.json.error.message, /^Longrun-Callback-Url: /, url);
    }
    const viaGrpc = await rejectsWith(server.call(SLEEP_METHOD, { duration: { seconds: 0 } }, { 'longrun-callback-url': 'https://127.0.0.2/' }), status.INVALID_ARGUMENT, /^longrun-callback-url: /);
    assert.equal(errorInfoOf(viaGrpc).metadata.field, 'longrun-callback-url');
    await rejectsWith(server.call(SLEEP_METHOD, { duration: { seconds: 0 }, callbackUrl: 'https://192.168.1.1/' }), status.INVALID_ARGUMENT, /^callback_url: /);
    await assert.rejects(server.longrun.create(SLEEP_METHOD, { duration: { seconds: 0 } }, { callbackUrl: 'https://0x7f.2/' }), /callbackUrl: must not target a loopback address/);
    assert.equal((await server.longrun.store.list({ parent: '', limit: 1000, now: Date.now() })).length, before);
  });

  it('logs one line per attempt without the secret, the body or the query, and counts attempts and latency in metrics', async () => {
    receiver = await startReceiver();
    receiver.answer = (_request, index) => (index === 0 ? { status: 500 } : { status: 200 });
    const created = await start({ duration: '0s', steps: 1 }, `${receiver.url}?token=query-secret`);
    await receiver.count(2);
    await eventually(async () => (await deliveriesOf(created.json.name))[0]?.state === 'delivered', 'delivered');
    const attempts = logLines.map((line) => JSON.parse(line)).filter((line) => line.operation === created.json.name && line.delivery !== undefined);
    assert.deepEqual(attempts.map((line) => [line.msg, line.attempt, line.status, line.outcome, line.receiver]), [
      ['completion callback attempt failed; will retry', 1, 500, 'retry', `http://127.0.0.1:${receiver.port}`],
      ['completion callback delivered', 2, 200, 'delivered', `http://127.0.0.1:${receiver.port}`],
    ]);
    const everything = logLines.join('');
    assert.ok(!everything.includes(SECRET.slice('whsec_'.length)), 'no secret');
    assert.ok(!everything.includes('query-secret'), 'no query string');
    assert.ok(!everything.includes('SleepResponse'), 'no body');
    const metrics = (await server.longrun.metrics.scrape()).body;
    assert.match(metrics, /^longrun_callback_attempts_total\{outcome="sent"\} [1-9]/m);
    assert.match(metrics, /^longrun_callback_attempts_total\{outcome="failed"\} [1-9]/m);
    assert.match(metrics, /^longrun_callback_latency_seconds_count [1-9]/m);
    assert.match(metrics, /^longrun_callback_deliveries\{state="delivered"\} [1-9]/m);
  });

  it('caps attempts in flight to one receiver, so a slow one holds up nobody else', async () => {
    const capped = await startTestServer({ http: {}, callbacks: { secrets: [SECRET], allow: ['127.0.0.1'], maxPerReceiver: 2, attemptTimeoutMs: 5000, retrySchedule: [1000] } });
    const slow = await startReceiver(0, '/slow');
    const fast = await startReceiver(0, '/fast');
    slow.answer = () => 'hang';
    try {
      const startWith = (url: string) => http('POST', `${capped.httpUrl}/v1/sleep`, { body: { duration: '0s', steps: 1 }, headers: { 'Longrun-Callback-Url': url } });
      for (let i = 0; i < 6; i++) await startWith(slow.url);
      await slow.count(2);
      const started = Date.now();
      await startWith(fast.url);
      await fast.count(1, 3000);
      assert.ok(Date.now() - started < 3000, 'the fast receiver was not held up');
      assert.equal(slow.received.length, 2, 'never more than the cap in flight to the slow receiver');
    } finally {
      await capped.close();
      await slow.close();
      await fast.close();
    }
  });

  it("tells a principal's per-server endpoint of every operation of theirs", async () => {
    const asSomeone = await startTestServer({ principal: 'someone', callbacks: { secrets: [SECRET], allow: ['127.0.0.1'], endpoints: { someone: [endpoint.url] } } });
    try {
      const record = await asSomeone.longrun.create(SLEEP_METHOD, { duration: { seconds: 0 } });
      await eventually(() => endpoint.received.some((r) => r.json?.id === record.name), 'the endpoint got the operation');
      verified(SECRET, endpoint.received.find((r) => r.json?.id === record.name)!);
      const other = await server.longrun.create(SLEEP_METHOD, { duration: { seconds: 0 } });
      await server.longrun.wait(other.name, 5000);
      assert.deepEqual(await deliveriesOf(other.name), [], "another principal's operations do not go to it");
    } finally {
      await asSomeone.close();
    }
  });
});
