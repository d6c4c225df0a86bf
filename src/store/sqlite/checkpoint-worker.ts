/**
 * Runs SQLite WAL checkpoints on a thread of their own. A checkpoint copies the WAL into the
 * database file and fsyncs it, which takes milliseconds; on the main thread it would stall every
 * RPC and completion behind it. PASSIVE checkpoints never wait for, or block, the main connection.
 */
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path, { timeout: 1000 });

setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or briefly unwritable: the next tick tries again; the main connection's own
    // autocheckpoint remains as a backstop.
  }
}, intervalMs);
