import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { hashToken, OperationsClient, TokenTable } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { bufCurl } from '../helpers/buf-curl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';

const TOKENS = { alice: 'alice-token-1f0c', bob: 'bob-token-77aa', ops: 'ops-token-9d3e' } as const;
type Who = keyof typeof TOKENS;

const tokenFile = Object.entries(TOKENS)
  .map(([principal, token]) => `${hashToken(token)}\t${principal}`)
  .join('\n');

interface OperationReply {
  name: string;
  done: boolean;
}

const sleep = (ms: number, extra: Record<string, unknown> = {}) => ({
  duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
  steps: 1,
  ...extra,
});

describe('authentication and ownership over gRPC (bearer tokens)', { timeout: 180_000 }, () => {
  let server: TestServer;
  const clients = new Map<Who, OperationsClient>();
  const as = (who: Who) => clients.get(who)!;
  const bearer = (who: Who) => ({ authorization: `Bearer ${TOKENS[who]}` });
  const start = (who: Who, ms = 0, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    server.call<OperationReply>(SLEEP_METHOD, sleep(ms, extra), { ...bearer(who), ...headers });

  before(async () => {
    server = await startTestServer({
      waitCapMs: 5000,
      serve: { auth: { tokens: TokenTable.parse(`# principals of the test\n\n${tokenFile}\n`), admins: ['ops'] } },
    });
    for (const who of Object.keys(TOKENS) as Who[]) clients.set(who, new OperationsClient(server.address, { token: TOKENS[who] }));
  });
  after(async () => {
    for (const client of clients.values()) client.close();
    await server.close();
  });

  describe('credentials', () => {
    it('refuses every Operations method and declared method without credentials: UNAUTHENTICATED, CREDENTIALS_MISSING', async () => {
      const mine = await start('alice');
      const calls: (() => Promise<unknown>)[] = [
        () => server.client.get(mine.name),
        () => server.client.list(),
        () => server.client.wait(mine.name, 0),
        () => server.client.cancel(mine.name),
        () => server.client.delete(mine.name),
        () => server.call(SLEEP_METHOD, sleep(0)),
      ];
      for (const call of calls) {
        const error = await rejectsWith(call(), status.UNAUTHENTICATED, /authorization: Bearer <token>/);
        assert.equal(errorInfoOf(error).reason, 'CREDENTIALS_MISSING');
      }
    });

    it('refuses an unknown token, a malformed header and another scheme, without echoing them', async () => {
      for (const authorization of ['Bearer not-a-known-token', 'Bearer', 'Basic YWxpY2U6cHc=', `Bearer ${TOKENS.alice} extra`, TOKENS.alice]) {
        const error = await rejectsWith(server.call(SLEEP_METHOD, sleep(0), { authorization }), status.UNAUTHENTICATED);
        assert.equal(errorInfoOf(error).reason, 'CREDENTIALS_INVALID');
        assert.doesNotMatch(error.details, /known-token|YWxp|alice-token/);
      }
    });

    it('accepts the scheme in any case and maps each token to its principal, who owns what it creates', async () => {
      const created = await start('alice', 0, {}, { authorization: `bearer ${TOKENS.alice}` });
      assert.equal((await server.longrun.store.get(created.name, Date.now()))?.owner, 'alice');
      const bobs = await start('bob');
      assert.equal((await server.longrun.store.get(bobs.name, Date.now()))?.owner, 'bob');
      const { operation } = await as('alice').wait(created.name, 5000);
      assert.equal(operation.done, true);
    });

    it('needs none for health and reflection: buf curl finds the health service through reflection and checks it', async () => {
      const { code, stdout, stderr } = await bufCurl(server.address, ['-d', '{"service":"google.longrunning.Operations"}', 'grpc.health.v1.Health/Check']);
      assert.equal(code, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), { status: 'SERVING' });
    });
  });

  describe('ownership', () => {
    // A well-formed name that no one was given: it must be indistinguishable from someone else's.
    const unknownName = 'operations/AAAAAAAAAAAAAAAAAAAAAA';

    it("gives PERMISSION_DENIED for another principal's operation and for a name that does not exist alike, on Get, Wait, Cancel, Delete", async () => {
      const running = await start('alice', 60_000);
      const finished = await start('alice');
      await as('alice').wait(finished.name, 5000);
      for (const name of [running.name, finished.name, unknownName, `projects/p/locations/l/${running.name}`]) {
        const attempts = [
          as('bob').get(name),
          as('bob').wait(name, 0),
          as('bob').cancel(name),
          as('bob').delete(name),
        ];
        for (const attempt of attempts) {
          const error = await rejectsWith(attempt, status.PERMISSION_DENIED);
          const info = errorInfoOf(error);
          assert.equal(info.reason, 'OPERATION_NOT_OWNED');
          assert.equal(info.metadata['name'], name);
          // Same message but for the name: nothing tells existing from not existing.
          assert.equal(error.details.replace(name, 'N'), "operation N is not the caller's: only the principal that created an operation (or an admin) may use it");
        }
      }
      // Bob's attempts changed nothing.
      assert.equal((await as('alice').get(running.name)).operation.done, false);
      assert.equal((await as('alice').get(finished.name)).operation.done, true);
      await as('alice').cancel(running.name);
      assert.equal((await as('alice').wait(running.name, 5000)).operation.error?.code, status.CANCELLED);
    });

    it('gives NOT_FOUND only for names that are the caller’s: its own deleted operation', async () => {
      const op = await start('alice');
      await as('alice').wait(op.name, 5000);
      await as('alice').delete(op.name);
      const error = await rejectsWith(as('alice').get(op.name), status.NOT_FOUND);
      assert.equal(errorInfoOf(error).reason, 'OPERATION_NOT_FOUND');
      await rejectsWith(as('bob').get(op.name), status.PERMISSION_DENIED);
      await rejectsWith(as('alice').get(unknownName), status.PERMISSION_DENIED);
    });

    it('lets an admin get, wait for, cancel and delete anyone’s operation; unknown names are NOT_FOUND to an admin', async () => {
      const running = await start('bob', 60_000);
      assert.equal((await as('ops').get(running.name)).operation.name, running.name);
      await as('ops').cancel(running.name);
      assert.equal((await as('ops').wait(running.name, 5000)).operation.error?.code, status.CANCELLED);
      await as('ops').delete(running.name);
      await rejectsWith(as('bob').get(running.name), status.NOT_FOUND);
      await rejectsWith(as('ops').get(unknownName), status.NOT_FOUND);
    });
  });

  describe('ListOperations', () => {
    const parent = 'projects/list/locations/l';
    let names: Record<'alice' | 'bob', string[]>;

    before(async () => {
      names = { alice: [], bob: [] };
      for (let i = 0; i < 3; i++) {
        for (const who of ['alice', 'bob'] as const) names[who].push((await start(who, 0, { parent })).name);
      }
    });

    const listAll = async (who: Who, pageSize = 0) => {
      const seen: string[] = [];
      let pageToken = '';
      do {
        const page = await as(who).list({ name: parent, pageSize, pageToken });
        seen.push(...page.operations.map((o) => o.name));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      return seen.sort();
    };

    it("shows each principal only its own operations, page after page", async () => {
      assert.deepEqual(await listAll('alice', 2), [...names.alice].sort());
      assert.deepEqual(await listAll('bob', 1), [...names.bob].sort());
    });

    it('shows an admin every principal’s operations', async () => {
      assert.deepEqual(await listAll('ops', 4), [...names.alice, ...names.bob].sort());
    });

    it("rejects one principal's page token from another, and an admin's from a principal: it cannot widen what a page shows", async () => {
      const alicePage = await as('alice').list({ name: parent, pageSize: 1 });
      assert.notEqual(alicePage.nextPageToken, '');
      const error = await rejectsWith(as('bob').list({ name: parent, pageSize: 1, pageToken: alicePage.nextPageToken }), status.INVALID_ARGUMENT);
      assert.equal(errorInfoOf(error).reason, 'INVALID_PAGE_TOKEN');
      const adminPage = await as('ops').list({ name: parent, pageSize: 1 });
      await rejectsWith(as('alice').list({ name: parent, pageSize: 1, pageToken: adminPage.nextPageToken }), status.INVALID_ARGUMENT);
      // Its own token still works.
      const next = await as('alice').list({ name: parent, pageSize: 1, pageToken: alicePage.nextPageToken });
      assert.ok(next.operations.every((o) => names.alice.includes(o.name)));
    });
  });

  describe('idempotency keys', () => {
    it('are scoped per principal: the same key from two principals makes two operations, each run once', async () => {
      const key = 'shared-key-42';
      const alice1 = await start('alice', 0, {}, { 'idempotency-key': key });
      const bob1 = await start('bob', 0, {}, { 'idempotency-key': key });
      const alice2 = await start('alice', 0, {}, { 'idempotency-key': key });
      const bob2 = await start('bob', 0, {}, { 'idempotency-key': key });
      assert.notEqual(alice1.name, bob1.name);
      assert.equal(alice2.name, alice1.name, 'a retry by the same principal is the same operation');
      assert.equal(bob2.name, bob1.name);
      assert.equal((await server.longrun.store.get(alice1.name, Date.now()))?.owner, 'alice');
      assert.equal((await server.longrun.store.get(bob1.name, Date.now()))?.owner, 'bob');
      // AIP-155 request_id alike.
      const requestId = 'b9a7c3e0-request-id';
      const aliceByRequestId = await start('alice', 0, { requestId });
      const bobByRequestId = await start('bob', 0, { requestId });
      assert.notEqual(aliceByRequestId.name, bobByRequestId.name);
      assert.equal((await start('bob', 0, { requestId })).name, bobByRequestId.name);
    });
  });

  describe('the in-process API', () => {
    it('keeps working beside an authenticating server: Longrun.create, get and wait act for the app', async () => {
      const op = await server.longrun.create(SLEEP_METHOD, sleep(0));
      assert.equal((await server.longrun.get(op.name)).name, op.name);
      assert.equal((await server.longrun.wait(op.name, 5000)).done, true);
      // The app's operations are its own principal's, not a caller's.
      await rejectsWith(as('alice').get(op.name), status.PERMISSION_DENIED);
      // And the app may read a caller's.
      const alices = await start('alice');
      assert.equal((await server.longrun.wait(alices.name, 5000)).owner, 'alice');
    });
  });
});
