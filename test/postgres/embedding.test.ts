/**
 * The embedding API's suites rerun on PostgreSQL: cancel, delete, list and watch in process with
 * tenancy and limits, update() in one write as a watcher sees it, and strict input. The same files
 * the SQLite run uses; each test server gets a fresh PostgreSQL database (test/helpers/server.ts).
 */
import { after } from 'node:test';
import { stopTestPostgres } from '../helpers/postgres.js';

process.env.LONGRUN_TEST_STORE = 'postgres';
after(() => stopTestPostgres());

await import('../embedding/in-process.test.js');
await import('../embedding/strict.test.js');
