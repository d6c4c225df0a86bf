/**
 * The per-call record of gRPC calls (one log line and the RPC metrics), made by the server
 * interceptor on a server from createServer(), and by the handlers on a grpc-js Server an app made
 * itself: the same lines either way, one per call, cancelled calls included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Server, status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { createLongrun, createServer, listen, shutdown, type Longrun } from '../../src/index.js';
import { OperationsClient } from '../../src/grpc/client.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, within } from '../helpers/wait.js';

type Line = Record<string, unknown> & { msg: string };
const OPS = '/google.longrunning.Operations';

for (const [kind, makeServer] of [
  ['a server from createServer() (the interceptor)', createServer],
  ['a grpc-js Server made without it (the handlers)', () => new Server()],
] as const) {
  describe(`the record of each call on ${kind}`, { timeout: 60_000 }, () => {
    const lines: Line[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
    const dir = tempDir();
    let longrun: Longrun;
    let server: Server;
    let client: OperationsClient;
    let caller: GenericCaller;
    const rpcLines = (rpc: string) => lines.filter((line) => line.msg === 'rpc' && line['rpc'] === rpc);

    before(async () => {
      // No runner: operations stay pending, so a WaitOperation waits until its client leaves.
      longrun = await createLongrun({ databasePath: dir.file('longrun.db'), logger, runner: false });
      longrun.method(SLEEP_METHOD, async () => ({}));
      server = makeServer();
      longrun.addToServer(server);
      const port = await listen(server, '127.0.0.1', 0);
      client = new OperationsClient(`127.0.0.1:${port}`);
      caller = new GenericCaller(`127.0.0.1:${port}`);
    });
    after(async () => {
      client?.close();
      caller?.close();
      if (server !== undefined) await shutdown(server, 1000);
      await longrun?.close(1000);
      dir.remove();
    });

    it('records a creation with its operation and principal, and a failure with its code', async () => {
      const created = await caller.call<{ name: string }>(SLEEP_METHOD, { steps: 1 }, { 'idempotency-key': 'interceptor-test' });
      await assert.rejects(client.get('operations/AAAAAAAAAAAAAAAAAAAAAA'), { code: status.NOT_FOUND });
      await eventually(() => rpcLines(`${OPS}/GetOperation`).length === 1, 'the GetOperation line');
      const [create] = rpcLines(SLEEP_METHOD);
      assert.equal(rpcLines(SLEEP_METHOD).length, 1);
      assert.equal(create!['code'], 'OK');
      assert.equal(create!['operation'], created.name);
      assert.equal(create!['principal'], 'default');
      assert.equal(typeof create!['durationMs'], 'number');
      // The idempotency key reached the operations service through the call context: a replay finds the same operation.
      const replayed = await caller.call<{ name: string }>(SLEEP_METHOD, { steps: 1 }, { 'idempotency-key': 'interceptor-test' });
      assert.equal(replayed.name, created.name);
      assert.equal(rpcLines(`${OPS}/GetOperation`)[0]!['code'], 'NOT_FOUND');
    });

    it('records a WaitOperation whose client left as CANCELLED, once', async () => {
      const { name } = await longrun.create(SLEEP_METHOD, { steps: 1 });
      const leaving = new AbortController();
      const waiting = client.wait(name, 30_000, undefined, leaving.signal);
      await eventually(() => longrun.events.waitingCount() === 1, 'the server to wait');
      leaving.abort();
      await assert.rejects(within(waiting, 'the cancelled call'), { code: status.CANCELLED });
      await eventually(() => rpcLines(`${OPS}/WaitOperation`).length === 1, 'the WaitOperation line');
      const [wait] = rpcLines(`${OPS}/WaitOperation`);
      assert.equal(wait!['code'], 'CANCELLED');
      assert.equal(wait!['operation'], name);
      assert.equal(wait!['principal'], 'default');
      // Nothing more is written for it later.
      await longrun.get(name);
      assert.equal(rpcLines(`${OPS}/WaitOperation`).length, 1);
    });
  });
}
