/**
 * The TLS, scaling-out and copy-store blocks of docs/operating.md, run as written in a checkout. Only ports and
 * the database change: free ports (LONGRUN_PORT / LONGRUN_HTTP_PORT, `--port 0`) instead of 50051 and
 * 8080, and a fresh PostgreSQL database (test/helpers/postgres.ts) instead of postgres://longrun@db/longrun.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createLongrun } from '../src/app.js';
import { addSleeper, SLEEP_METHOD } from '../src/sleeper/sleeper.js';
import { bufCurl } from './helpers/buf-curl.js';
import { clientCertificate, makeCa, serverCertificate } from './helpers/certificates.js';
import { checkout } from './helpers/checkout.js';
import { runChild, spawnChild, type Child } from './helpers/children.js';
import { blockOf, jsonDocuments } from './helpers/doc-blocks.js';
import { stopTestPostgres, testPostgres } from './helpers/postgres.js';
import { silentLogger } from './helpers/server.js';

const QUIET = { LONGRUN_LOG_LEVEL: 'warn' };

describe('docs/operating.md: TLS, scaling out and copy-store', { timeout: 240_000, concurrency: true }, () => {
  after(() => stopTestPostgres());

  it('tls-serve and tls-clients: buf curl and longrun list as alice, over TLS with her certificate and token', { timeout: 180_000 }, async (t) => {
    const dir = checkout();
    try {
      const ca = await makeCa();
      const server = await serverCertificate(ca);
      const alice = await clientCertificate(ca, 'alice');
      for (const [file, pem] of [['ca.pem', ca.cert], ['server.pem', server.cert], ['server-key.pem', server.key], ['alice.pem', alice.cert], ['alice-key.pem', alice.key]] as const) {
        writeFileSync(dir.file(file), pem);
      }
      // The token file as the page's hash-token block makes it, and the token it made.
      const tokens = await runChild('sh', ['-e', '-c', `${blockOf('docs/operating.md', 'hash-token')}\nprintf '%s' "$TOKEN"`], { cwd: dir.path, timeoutMs: 60_000 });
      assert.equal(tokens.code, 0, tokens.stderr);
      const token = tokens.stdout;

      const serving = spawnChild('sh', ['-e', '-c', blockOf('docs/operating.md', 'tls-serve')], {
        cwd: dir.path,
        env: { ...process.env, ...QUIET, LONGRUN_PORT: '0', LONGRUN_HTTP_PORT: '0' },
        t,
      });
      try {
        const port = (await serving.waitFor(/longrun listening on \S+:(\d+)/, 'longrun serve to listen', 60_000))[1]!;
        const script = blockOf('docs/operating.md', 'tls-clients').replaceAll('localhost:50051', `localhost:${port}`);
        const run = await runChild('sh', ['-e', '-c', script], { cwd: dir.path, timeoutMs: 120_000, env: { ...process.env, TOKEN: token } });
        assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\nserver:\n${serving.output()}`);
        assert.match(run.stdout, /^google\.longrunning\.Operations\/ListOperations$/m, 'reflection answers over TLS (it needs no token)');
        const [created, listed] = jsonDocuments(run.stdout) as [{ name: string }, { operations: { name: string }[] }];
        assert.match(created.name, /^operations\/[\w-]{27}$/, 'alice started a Sleep');
        assert.deepEqual(listed.operations.map((operation) => operation.name), [created.name], 'and lists it');
        assert.match(run.stdout, new RegExp(`^${created.name}\\s+(PENDING|RUNNING|DONE)\\b`, 'm'), 'longrun list shows it too');
      } finally {
        await serving.kill();
      }
    } finally {
      dir.remove();
    }
  });

  it('scale-out: two servers without runners and two runners on one PostgreSQL database behave as one process', { timeout: 180_000 }, async (t) => {
    const postgres = await testPostgres();
    const database = await postgres.freshDatabase();
    const dir = checkout();
    const children: Child[] = [];
    try {
      const [serveLine, runnerLine] = blockOf('docs/operating.md', 'scale-out')
        .replaceAll('postgres://longrun@db/longrun', database.url)
        .replaceAll('--port 50051', '--port 0')
        .trim()
        .split('\n');
      assert.match(serveLine!, /longrun serve .*--no-runner/);
      assert.match(runnerLine!, /longrun runner /);
      const start = (line: string) => {
        const child = spawnChild('sh', ['-e', '-c', line], { cwd: dir.path, env: { ...process.env, ...QUIET, LONGRUN_HTTP_PORT: '0' }, t });
        children.push(child);
        return child;
      };
      const [servers, runners] = [[start(serveLine!), start(serveLine!)], [start(runnerLine!), start(runnerLine!)]];
      const [first, second] = await Promise.all(servers.map(async (server) => (await server.waitFor(/longrun listening on (\S+)/, 'longrun serve to listen', 60_000))[1]!));
      await Promise.all(runners.map((runner) => runner.waitFor(/longrun runner ready \(\S+\)/, 'longrun runner to be ready', 60_000)));

      /** A Sleep created on one server, waited for on the other: only a runner can have run it. */
      const roundTrip = async () => {
        const created = await bufCurl(first!, ['-d', '{"duration":"0.2s"}', 'longrun.testing.v1.Sleeper/Sleep']);
        assert.equal(created.code, 0, created.stderr);
        const { name } = JSON.parse(created.stdout) as { name: string };
        const waited = await bufCurl(second!, ['-d', JSON.stringify({ name, timeout: '30s' }), 'google.longrunning.Operations/WaitOperation']);
        assert.equal(waited.code, 0, waited.stderr);
        const operation = JSON.parse(waited.stdout) as { done?: boolean; response?: { '@type': string } };
        assert.equal(operation.done, true, `${name} done, waited for on the other server: ${waited.stdout}`);
        assert.equal(operation.response?.['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
      };
      await roundTrip();
      // One runner leaves (SIGTERM: it exits 0); the other goes on.
      const exit = await runners[0]!.kill('SIGTERM', 30_000);
      assert.equal(exit.forced, false, runners[0]!.output());
      await roundTrip();
    } finally {
      await Promise.all(children.map((child) => child.kill()));
      dir.remove();
      await database.drop();
    }
  });

  it('copy-store: a stopped server\'s ./data/longrun.db is copied to PostgreSQL, names and results intact', { timeout: 180_000 }, async () => {
    const database = await (await testPostgres()).freshDatabase();
    const dir = checkout();
    try {
      // What `npm start` left in the checkout: ./data/longrun.db with a done operation and a pending one.
      mkdirSync(dir.file('data'));
      const before = await createLongrun({ databasePath: dir.file('data/longrun.db'), logger: silentLogger, pollMs: 20 });
      addSleeper(before);
      before.start();
      const done = await before.create(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 1 });
      assert.equal((await before.wait(done.name, 30_000)).done, true);
      const pending = await before.create(SLEEP_METHOD, { duration: { seconds: 3600, nanos: 0 }, steps: 1 }, { startTime: new Date(Date.now() + 3_600_000) });
      await before.close(100);

      const script = blockOf('docs/operating.md', 'copy-store').replaceAll('postgres://longrun@db/longrun', database.url);
      const run = await runChild('sh', ['-e', '-c', script], { cwd: dir.path, timeoutMs: 60_000 });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /^copied 2 of 2 operations/m);

      const after = await createLongrun({ databasePath: database.url, logger: silentLogger, runner: false });
      try {
        addSleeper(after);
        const read = await after.get(done.name);
        assert.equal(read.done, true, 'the done operation, by its old name');
        assert.equal(read.response?.typeUrl, 'type.googleapis.com/longrun.testing.v1.SleepResponse');
        assert.equal((await after.get(pending.name)).done, false, 'the pending one, still to run');
      } finally {
        await after.close(100);
      }
    } finally {
      dir.remove();
      await database.drop();
    }
  });
});
