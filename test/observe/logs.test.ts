import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Line = Record<string, unknown> & { msg: string; level: number };

const DEBUG = 20;
const INFO = 30;
const OPS = '/google.longrunning.Operations';

describe('structured logs', { timeout: 180_000 }, () => {
  const lines: Line[] = [];
  const raw: string[] = [];
  let server: TestServer;
  const controlled = new Controlled();
  const logger = pino({ level: 'debug' }, {
    write(line: string) {
      raw.push(line);
      lines.push(JSON.parse(line) as Line);
    },
  });
  const find = (msg: string, fields: Record<string, unknown> = {}) =>
    lines.filter((line) => line.msg === msg && Object.entries(fields).every(([k, v]) => line[k] === v));

  before(async () => {
    server = await startTestServer({ sleeper: false, logger, setup: (longrun) => longrun.method(SLEEP_METHOD, controlled.handler) });
  });
  after(() => server.close());

  it('writes one line per RPC with method, code, duration, principal and operation name', async () => {
    const op = await server.call<{ name: string }>(SLEEP_METHOD, { steps: 1 });
    const run = await controlled.next();
    await server.client.get(op.name);
    await server.client.list();
    await assert.rejects(server.client.get('operations/AAAAAAAAAAAAAAAAAAAAAA'), { code: status.NOT_FOUND });
    run.finish({ steps: 1 });
    await server.client.wait(op.name, 5000);

    const [create] = find('rpc', { rpc: SLEEP_METHOD });
    assert.ok(create, 'the creating call is logged');
    assert.equal(create.level, INFO);
    assert.equal(create['code'], 'OK');
    assert.equal(create['principal'], 'default');
    assert.equal(create['operation'], op.name);
    assert.equal(typeof create['durationMs'], 'number');
    assert.equal(find('rpc', { rpc: `${OPS}/GetOperation`, code: 'OK', operation: op.name }).length, 1);
    assert.equal(find('rpc', { rpc: `${OPS}/WaitOperation`, code: 'OK', operation: op.name }).length, 1);
    assert.equal(find('rpc', { rpc: `${OPS}/GetOperation`, code: 'NOT_FOUND', operation: 'operations/AAAAAAAAAAAAAAAAAAAAAA' }).length, 1);
    const [list] = find('rpc', { rpc: `${OPS}/ListOperations` });
    assert.ok(list);
    assert.equal(list['operation'], undefined, 'a collection is not an operation');
  });

  it('logs the lifecycle: created, started, progress (debug), cancelled, done', async () => {
    const op = await server.call<{ name: string }>(SLEEP_METHOD, { steps: 1 });
    const run = await controlled.next();
    await run.context.progress(25);
    await server.client.cancel(op.name);
    run.fail(await run.aborted);
    assert.equal((await server.client.wait(op.name, 5000)).operation.error?.code, status.CANCELLED);
    const finished = await server.call<{ name: string }>(SLEEP_METHOD, { steps: 1 });
    (await controlled.next()).finish({ steps: 1 });
    assert.equal((await server.client.wait(finished.name, 5000)).operation.done, true);

    assert.equal(find('operation created', { operation: op.name, method: SLEEP_METHOD, principal: 'default' }).length, 1);
    assert.equal(find('operation started', { operation: op.name, attempt: 1 }).length, 1);
    const [progress] = find('operation progress', { operation: op.name, percent: 25 });
    assert.equal(progress?.level, DEBUG);
    assert.equal(find('operation cancellation requested', { operation: op.name }).length, 1);
    assert.equal(find('operation cancelled', { operation: op.name }).length, 1);
    assert.equal(find('operation done', { operation: op.name }).length, 0, 'a cancelled operation is logged as cancelled, not done');
    assert.equal(find('operation done', { operation: finished.name, code: 'OK', attempt: 1 }).length, 1);
  });

  it('never logs payloads, idempotency keys or credentials', async () => {
    const secrets = ['payload-marker-7f3a', 'idem-key-9c1e', 'bearer-token-4d2b'];
    const op = await server.call<{ name: string }>(
      SLEEP_METHOD,
      { steps: 1, failWith: { code: 3, message: secrets[0] } },
      { 'idempotency-key': secrets[1]!, authorization: `Bearer ${secrets[2]}` },
    );
    (await controlled.next()).finish({ steps: 1 });
    await server.client.wait(op.name, 5000);
    assert.ok(find('rpc', { operation: op.name }).length >= 2, 'the calls were logged');
    const all = raw.join('');
    for (const secret of secrets) assert.ok(!all.includes(secret), `${secret} is not in the logs`);
  });
});
