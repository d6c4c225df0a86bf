/**
 * Opening the SQLite file: WAL mode, the synchronous level, the busy timeout, and WAL checkpoints
 * on a worker thread so they never stall the main connection.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * `NORMAL` (default): in WAL mode a commit survives a crash of the process (kill -9) but the last
 * commits may be lost if the machine loses power. `FULL`: every commit is fsynced before it is
 * acknowledged, surviving power loss at the cost of one fsync per write.
 */
export type SqliteSynchronous = 'NORMAL' | 'FULL';

export interface ConnectionOptions {
  /** Path of the database file; its folder is created if missing. */
  path: string;
  synchronous?: SqliteSynchronous;
  /** How long a write waits for another process's lock before failing (default: 5000 ms). */
  busyTimeoutMs?: number;
  /** Checkpoint the WAL on a worker thread every this many ms (default: 500; 0 = on the main thread). */
  checkpointIntervalMs?: number;
}

/** WAL pages before the main connection checkpoints by itself: only a backstop for the worker. */
const BACKSTOP_AUTOCHECKPOINT_PAGES = 16_384;

export interface Connection {
  db: Database.Database;
  close(): Promise<void>;
}

export function openConnection(options: ConnectionOptions): Connection {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
  // Statement journals in memory: a statement that may fail half-way (any write here, with its
  // unique and check constraints) keeps the pages it changes until it ends, and past 64 KiB in a
  // transaction SQLite spills them to a temporary file, a write(2) per page. The batched claims,
  // creations and completions passed that: it was up to half the cost of a batch of completions.
  // Temporary sorts go to memory too; every sort here has a LIMIT (list pages, claim scans), which
  // SQLite's sorter holds to, and no statement of the store builds a temporary table or a VACUUM.
  db.pragma('temp_store = MEMORY');
  let checkpointer: Worker | undefined;
  const interval = options.path === ':memory:' ? 0 : (options.checkpointIntervalMs ?? 500);
  if (interval > 0) {
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
    checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
      workerData: { path: options.path, intervalMs: interval },
    });
    checkpointer.unref();
  }
  return {
    db,
    async close() {
      const worker = checkpointer;
      checkpointer = undefined;
      // Stopping mid-checkpoint is safe: SQLite checkpoints survive being cut off like any crash.
      if (worker) {
        worker.ref();
        await worker.terminate();
      }
      if (db.open) db.close();
    },
  };
}
