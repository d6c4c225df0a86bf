/**
 * The watch suites (gRPC WatchOperation, Server-Sent Events, the typed client) rerun on PostgreSQL,
 * where store reads are truly asynchronous and other processes' changes come by NOTIFY.
 */
import { after } from 'node:test';
import { stopTestPostgres } from '../helpers/postgres.js';

process.env.LONGRUN_TEST_STORE = 'postgres';
after(() => stopTestPostgres());

await import('../watch/grpc.test.js');
await import('../watch/sse.test.js');
