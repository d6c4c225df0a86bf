/**
 * Moves a SQLite store into PostgreSQL: every operation row as it is (requests, results, leases,
 * idempotency keys and their fingerprints) and the page-token signing key, which also signs
 * operation ids, so names, page tokens and idempotent retries made before the move keep working.
 * Re-running it copies only what is missing. Run it with the servers stopped.
 */
import Database from 'better-sqlite3';
import { Code, LongrunError } from '../domain/errors.js';
import { createPool, quoteIdentifier } from './postgres/connection.js';
import { storeError } from './postgres/errors.js';
import { migrate } from './postgres/migrations/index.js';
import { DEFAULT_PG_SCHEMA } from './postgres/store.js';
import { migrate as migrateSqlite } from './sqlite/migrations/index.js';

const COLUMNS = [
  'name', 'parent', 'method', 'owner', 'done', 'metadata_type', 'metadata_value', 'response_type', 'response_value',
  'error_code', 'error_message', 'error_details', 'progress_percent', 'estimated_completion', 'request_type',
  'request_value', 'idempotency_key', 'request_fingerprint', 'lease_holder', 'lease_expires_at', 'attempt',
  'max_attempts', 'cancel_requested', 'create_time', 'update_time', 'done_time', 'expire_time', 'callbacks', 'answer_style',
  'run_after', 'priority', 'fair_seq', 'concurrency_key', 'running_key', 'timeout_ms', 'start_deadline', 'last_error_code',
  'last_error_message', 'trace_context', 'rerun_of',
] as const;
const BOOLEAN_COLUMNS = new Set<string>(['done', 'cancel_requested']);
const BATCH_ROWS = 500;

export interface CopyResult {
  /** Operations written to the target (already present ones are not counted). */
  copied: number;
  /** Of them, with an idempotency key. */
  keyed: number;
  /** Operations in the source. */
  total: number;
}

export async function copySqliteToPostgres(options: { from: string; to: string; schema?: string }): Promise<CopyResult> {
  const source = new Database(options.from, { fileMustExist: true });
  const schema = options.schema ?? DEFAULT_PG_SCHEMA;
  const quoted = quoteIdentifier(schema);
  const pool = createPool({ url: options.to, poolSize: 2 });
  try {
    migrateSqlite(source); // an older file gets the current schema first, as a server would
    await migrate(pool, schema, quoted);
    const key = (source.prepare("SELECT value FROM meta WHERE key = 'page_token_key'").get() as { value: Buffer } | undefined)?.value;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      if (key !== undefined) {
        const existing = await client.query<{ value: Buffer }>(`SELECT value FROM ${quoted}.meta WHERE key = 'page_token_key'`);
        const present = existing.rows[0]?.value;
        if (present !== undefined && !present.equals(key)) {
          const { rows } = await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quoted}.operations) AS any`);
          if (rows[0]?.any) {
            throw new LongrunError(
              Code.FAILED_PRECONDITION,
              'the target already holds operations signed with another key; copy into an empty schema (--pg-schema) instead',
              'TARGET_NOT_EMPTY',
            );
          }
        }
        await client.query(`INSERT INTO ${quoted}.meta (key, value) VALUES ('page_token_key', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [key]);
      }
      const placeholders = (row: number) => `(${COLUMNS.map((_, i) => `$${row * COLUMNS.length + i + 1}`).join(', ')})`;
      let copied = 0;
      let keyed = 0;
      let total = 0;
      let batch: Record<string, unknown>[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const values = batch.flatMap((row) => COLUMNS.map((column) => (BOOLEAN_COLUMNS.has(column) ? row[column] === 1 : row[column])));
        const result = await client.query<{ idempotency_key: string | null }>(
          `INSERT INTO ${quoted}.operations (${COLUMNS.join(', ')}) VALUES ${batch.map((_, i) => placeholders(i)).join(', ')}
           ON CONFLICT DO NOTHING RETURNING idempotency_key`,
          values,
        );
        copied += result.rows.length;
        keyed += result.rows.filter((row) => row.idempotency_key !== null).length;
        batch = [];
      };
      for (const row of source.prepare(`SELECT ${COLUMNS.join(', ')} FROM operations ORDER BY create_time`).iterate() as Iterable<Record<string, unknown>>) {
        total++;
        batch.push(row);
        if (batch.length === BATCH_ROWS) await flush();
      }
      await flush();
      await client.query('COMMIT');
      return { copied, keyed, total };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  } catch (error) {
    throw storeError(error);
  } finally {
    source.close();
    await pool.end();
  }
}
