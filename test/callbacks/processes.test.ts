/**
 * Completion callbacks across real processes: a deliverer killed with SIGKILL mid-delivery (the
 * delivery is made after a restart, with the same webhook-id), operators' `longrun deliveries`
 * commands, and two servers on one PostgreSQL sharing 1,000 deliveries.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { http } from '../helpers/http.js';
import { httpAddressOf, runCli, spawnServer, type ServerProcess } from '../helpers/process.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { newSecret, startReceiver, verified, type Receiver } from '../helpers/receiver.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, within } from '../helpers/wait.js';

const SECRET = newSecret();

function callbackFlags(dir: ReturnType<typeof tempDir>, extra: string[]): string[] {
  const secretFile = dir.file('callback-secrets');
  writeFileSync(secretFile, `# signing secrets\n${SECRET}\n`);
  return ['--enable-sleeper', '--no-vision', '--callback-secret-file', secretFile, '--callback-allow', '127.0.0.1', ...extra];
}

async function startSleep(httpUrl: string, callbackUrl: string): Promise<string> {
  const reply = await http('POST', `${httpUrl}/v1/sleep`, { body: { duration: '0s', steps: 1 }, headers: { 'Longrun-Callback-Url': callbackUrl } });
  assert.equal(reply.status, 202, reply.text);
  return reply.json.name;
}

describe('completion callbacks across processes', { timeout: 180_000 }, () => {
  const processes: ServerProcess[] = [];
  const receivers: Receiver[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL').catch(() => undefined)));
    await Promise.all(receivers.map((r) => r.close()));
    await stopTestPostgres();
  });

  it('makes a delivery whose sender was killed with SIGKILL mid-attempt after a restart, with the same webhook-id', async () => {
    const dir = tempDir();
    const db = dir.file('longrun.db');
    const flags = callbackFlags(dir, ['--callback-timeout', '2s', '--callback-retry', '100ms,100ms,100ms']);
    const receiver = await startReceiver();
    receivers.push(receiver);
    receiver.answer = (_request, index) => (index === 0 ? 'hang' : { status: 204 });
    const first = await spawnServer(db, flags);
    processes.push(first);
    const name = await startSleep(await httpAddressOf(first), receiver.url);
    const [inFlight] = await receiver.count(1);
    await first.stop('SIGKILL');

    const second = await spawnServer(db, flags);
    processes.push(second);
    // The dead process's claim runs out (3 x the 2 s timeout + 1 s), then the new one sends it.
    const [, again] = await receiver.count(2, 30_000);
    assert.equal(again!.headers['webhook-id'], inFlight!.headers['webhook-id']);
    assert.equal(verified(SECRET, again!).id, name);
    await eventually(async () => {
      const listed = await runCli(['deliveries', 'list', '--db', db, '--json', '--operation', name]);
      return JSON.parse(listed.stdout).deliveries[0]?.state === 'delivered';
    }, 'the delivery recorded as delivered', 10_000);
    await second.stop();
  });

  it('lists dead deliveries for operators and sends one again on `longrun deliveries retry`', async () => {
    const dir = tempDir();
    const db = dir.file('longrun.db');
    const receiver = await startReceiver();
    receivers.push(receiver);
    let up = false;
    receiver.answer = () => (up ? { status: 200 } : { status: 500 });
    const server = await spawnServer(db, callbackFlags(dir, ['--callback-retry', '50ms', '--poll', '200ms']));
    processes.push(server);
    const name = await startSleep(await httpAddressOf(server), receiver.url);
    const listDead = async () => JSON.parse((await runCli(['deliveries', 'list', '--db', db, '--state', 'dead', '--json'])).stdout).deliveries;
    await eventually(async () => (await listDead()).length === 1, 'a dead delivery', 15_000);
    const [dead] = await listDead();
    assert.deepEqual([dead.operation, dead.attempts, dead.last_status, dead.receiver], [name, 2, 500, receiver.url]);
    const table = await runCli(['deliveries', 'list', '--db', db]);
    assert.match(table.stdout, /^ID\s+STATE\s+ATTEMPTS\s+LAST\s+UPDATED\s+OPERATION\s+RECEIVER\n/);
    assert.match(table.stdout, new RegExp(`${dead.id}\\s+dead\\s+2\\s+HTTP 500`));

    up = true;
    const retried = await runCli(['deliveries', 'retry', dead.id, '--db', db]);
    assert.equal(retried.code, 0, retried.stderr);
    await receiver.count(3, 15_000);
    assert.equal(receiver.received[2]!.headers['webhook-id'], dead.id);
    await eventually(async () => (await listDead()).length === 0, 'no dead delivery left');
    assert.equal((await runCli(['deliveries', 'retry', 'msg_0000', '--db', db])).code, 3);
    assert.equal((await runCli(['deliveries', 'list', '--db', db, '--state', 'lost'])).code, 2);
    await server.stop();
  });

  it('two servers on one PostgreSQL deliver 1,000 completions: 1,000 distinct webhook-ids, each at least once', async (t) => {
    const database = await (await testPostgres()).freshDatabase();
    const dir = tempDir();
    const receiver = await startReceiver();
    receivers.push(receiver);
    const flags = callbackFlags(dir, []);
    const servers = await Promise.all([spawnServer(database.url, flags), spawnServer(database.url, flags)]);
    processes.push(...servers);
    const urls = await Promise.all(servers.map((server) => httpAddressOf(server)));
    const names = new Set<string>();
    let next = 0;
    await within(
      Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < 1000) {
            const index = next++;
            names.add(await startSleep(urls[index % 2]!, receiver.url));
          }
        }),
      ),
      '1,000 creations',
      60_000,
    );
    await eventually(() => receiver.ids().size >= 1000, `1,000 distinct webhook-ids (${receiver.ids().size} so far)`, 90_000);
    const operationOf = new Map<string, string>();
    for (const request of receiver.received) {
      const id = String(request.headers['webhook-id']);
      const operation = verified(SECRET, request).id as string;
      assert.equal(operationOf.get(id) ?? operation, operation, 'one webhook-id, one operation');
      operationOf.set(id, operation);
    }
    assert.deepEqual(new Set(operationOf.values()), names);
    const duplicates = receiver.received.length - receiver.ids().size;
    t.diagnostic(`1,000 completions over two processes on PostgreSQL: ${receiver.received.length} requests, ${duplicates} duplicates`);
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  });
});
