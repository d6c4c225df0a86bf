/**
 * `npm run bench -- list`: ListOperations page time on 1,000,000 operations, for `done = false`, a
 * `name` wildcard and a `create_time` range, page 1 against page 100 (keyset pagination: page 100
 * should cost about what page 1 costs; the target is at most 2x). Listed by an admin (every owner:
 * the one caller of a server without authentication), and by one of five owners, authenticated.
 *
 * The database is built fast but real: one operation is created through a longrun server (so the
 * schema comes from the store's migrations and owner, parent and types are what the server
 * writes), then 1,000,000 rows modelled on it are inserted in one transaction. Pages are then timed
 * through the real gRPC server, in its own process.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { hashToken, OperationsClient, type OperationsClientOptions } from '../../src/index.js';
import type { OperationRow } from '../../src/store/sqlite/store.js';
import { fmt, scaled } from './measure.js';

export interface ListBenchServer {
  port: number;
  /** Creates one quick operation through the server's API. */
  createOne(): Promise<{ name: string }>;
  stop(): Promise<void>;
}

export interface ListBenchOptions {
  report(line: string): void;
  work: string;
  /** Without `tokenFile`, no authentication: the caller is an admin. */
  startServer(databasePath: string, tokenFile?: string): Promise<ListBenchServer>;
}

// Page 100 of one owner's 10% filters needs 50,000 of that owner's rows: never fewer than 300,000.
const OPERATIONS = scaled(1_000_000, 300_000);
const PAGE_SIZE = 50;
const STEP_MS = 1000;
/** Rows 0, 10, 20, ... are unfinished (10%); names carry i % 10 so a prefix matches 10%. */
const UNFINISHED_EVERY = 10;
/** Rows belong to five owners in runs of three, so that each owner has rows of every filter. */
const OWNERS = 5;
const OWNER_RUN = 3;
const TENANT = 'tenant-1'; // the owner listing in the owner-scoped half: see ownerOf
const TENANT_TOKEN = 'bench-list-token-0123456789abcdef';
const PAGE_1_RUNS = 21;
const PAGE_100_RUNS = 5;


export async function listBench({ report, work, startServer }: ListBenchOptions): Promise<void> {
  const path = join(work, 'list.db');
  const first = await startServer(path);
  const client = new OperationsClient(`127.0.0.1:${first.port}`);
  const { name } = await first.createOne();
  await client.wait(name, 10_000);
  client.close();
  await first.stop();

  const base = Date.now() - OPERATIONS * STEP_MS;
  const buildStart = performance.now();
  const collection = name.slice(0, name.lastIndexOf('/') + 1);
  buildDatabase(path, name, base);
  report(`list: built ${OPERATIONS.toLocaleString('en-US')} operations in ${fmt((performance.now() - buildStart) / 1000, 1)} s`);

  // A window of a fifth of the operations in the middle, so page 100 (rows 4,951-5,000) is well inside it.
  const from = new Date(base + 0.4 * OPERATIONS * STEP_MS).toISOString();
  const to = new Date(base + 0.6 * OPERATIONS * STEP_MS).toISOString();
  const filters = [
    ['done = false', 'done = false'],
    ['name wildcard', `name = "${collection}bench-3-*"`],
    ['time range', `create_time >= "${from}" AND create_time < "${to}"`],
  ] as const;

  await timePages(report, 'admin', filters, await startServer(path), {});
  const tokenFile = join(work, 'list-tokens');
  writeFileSync(tokenFile, `${hashToken(TENANT_TOKEN)} ${TENANT}\n`);
  await timePages(report, 'one owner', filters, await startServer(path, tokenFile), { token: TENANT_TOKEN });
}

/** Page 1 and page 100 of each filter, as listed by `who` through `server`. */
async function timePages(
  report: (line: string) => void,
  who: string,
  filters: readonly (readonly [string, string])[],
  server: ListBenchServer,
  clientOptions: OperationsClientOptions,
): Promise<void> {
  const lister = new OperationsClient(`127.0.0.1:${server.port}`, clientOptions);
  try {
    for (const [label, filter] of filters) {
      const page = async (pageToken = '') => {
        const start = performance.now();
        const reply = await lister.list({ filter, pageSize: PAGE_SIZE, pageToken });
        return { ms: performance.now() - start, reply };
      };
      for (let i = 0; i < 3; i++) await page(); // warm-up
      const page1: number[] = [];
      for (let i = 0; i < PAGE_1_RUNS; i++) {
        const { ms, reply } = await page();
        if (reply.operations.length !== PAGE_SIZE) throw new Error(`${label}: page 1 had ${reply.operations.length} operations`);
        page1.push(ms);
      }
      const page100: number[] = [];
      for (let run = 0; run < PAGE_100_RUNS; run++) {
        let token = '';
        for (let p = 1; p < 100; p++) {
          token = (await page(token)).reply.nextPageToken;
          if (token === '') throw new Error(`${label}: ran out of pages at page ${p}`);
        }
        const { ms, reply } = await page(token);
        if (reply.operations.length !== PAGE_SIZE) throw new Error(`${label}: page 100 had ${reply.operations.length} operations`);
        page100.push(ms);
      }
      const m1 = median(page1);
      const m100 = median(page100);
      report(
        `list, ${who.padEnd(9)}, ${label.padEnd(13)} (${filter}): page 1 ${fmt(m1)} ms, page 100 ${fmt(m100)} ms ` +
          `(medians of ${PAGE_1_RUNS} and ${PAGE_100_RUNS}; page 100 / page 1 = ${fmt(m100 / m1)}, target <= 2)`,
      );
    }
  } finally {
    lister.close();
    await server.stop();
  }
}

/** 1,000,000 rows modelled on the operation `templateName`, one second apart from `base`. */
function buildDatabase(path: string, templateName: string, base: number): void {
  const db = new Database(path);
  try {
    db.pragma('synchronous = OFF'); // a throwaway build; the server reopens it with its own settings
    db.pragma('cache_size = -262144');
    const template = db.prepare('SELECT * FROM operations WHERE name = ?').get(templateName) as Required<OperationRow>;
    const collection = templateName.slice(0, templateName.lastIndexOf('/') + 1);
    const insert = db.prepare(`INSERT INTO operations (name, parent, method, owner, done, response_type, response_value,
        request_type, request_value, max_attempts, progress_percent, create_time, update_time, done_time, expire_time)
      VALUES (@name, @parent, @method, @owner, @done, @responseType, @responseValue, @requestType, @requestValue,
        @maxAttempts, @progress, @createTime, @createTime, @doneTime, @expireTime)`);
    const farFuture = Date.now() + 365 * 86_400_000;
    db.transaction(() => {
      for (let i = 0; i < OPERATIONS; i++) {
        const done = i % UNFINISHED_EVERY !== 0;
        const createTime = base + i * STEP_MS;
        insert.run({
          name: `${collection}bench-${i % 10}-${i.toString(36).padStart(4, '0')}`,
          parent: template.parent,
          // Unfinished rows belong to a method nobody serves, so no runner picks them up.
          method: done ? '/longrun.testing.v1.Sleeper/Sleep' : '/bench.Unserved/Run',
          owner: ownerOf(i, template.owner),
          done: done ? 1 : 0,
          responseType: done ? template.response_type : null,
          responseValue: done ? template.response_value : null,
          requestType: template.request_type,
          requestValue: template.request_value,
          maxAttempts: template.max_attempts,
          progress: done ? 100 : 0,
          createTime,
          doneTime: done ? createTime + 500 : null,
          expireTime: done ? farFuture : null,
        });
      }
    }).immediate();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** Row i's owner: the template's (the bench server's own caller) or tenant-1 to tenant-4, in runs. */
function ownerOf(i: number, templateOwner: string): string {
  const owner = Math.floor(i / OWNER_RUN) % OWNERS;
  return owner === 0 ? templateOwner : `tenant-${owner}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
