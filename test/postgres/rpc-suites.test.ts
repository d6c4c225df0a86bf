/**
 * The RPC suites that matter, rerun on PostgreSQL: the five RPCs, idempotency, cancel, WaitOperation,
 * retention, list with filters and page tokens, and authentication. Each is the same file the
 * SQLite run uses; test servers get a fresh PostgreSQL database each (test/helpers/server.ts).
 */
import { after } from 'node:test';
import { stopTestPostgres } from '../helpers/postgres.js';

process.env.LONGRUN_TEST_STORE = 'postgres';
after(() => stopTestPostgres());

await import('../grpc/operations.test.js');
await import('../grpc/list.test.js');
await import('../grpc/auth.test.js');

const { describe, it } = await import('node:test');
const assert = (await import('node:assert/strict')).default;
const { startTestServer } = await import('../helpers/server.js');

describe('the rerun', { timeout: 180_000 }, () => {
  it('really serves from PostgreSQL', async () => {
    const server = await startTestServer();
    try {
      assert.match(server.databasePath, /^postgres(ql)?:\/\//);
    } finally {
      await server.close();
    }
  });
});
