/**
 * Numbered, append-only schema migrations. Never edit a released one: add the next number.
 * Each runs in its own transaction holding a transaction-level advisory lock, so two processes
 * starting at once on a fresh database do not both migrate: the second waits, then finds the
 * version recorded and skips it. Any process may be the first.
 */
import type pg from 'pg';
import { init } from './0001-init.js';
import { deliveries } from './0002-deliveries.js';
import { answerStyle } from './0003-answer-style.js';
import { policies } from './0004-policies.js';
import { claimScheduled } from './0005-claim-scheduled.js';
import { traceContext } from './0006-trace-context.js';
import { rerunOf } from './0007-rerun-of.js';

export interface Migration {
  version: number;
  /** The SQL, given the quoted schema name. */
  sql(schema: string): string;
}

export const migrations: readonly Migration[] = [init, deliveries, answerStyle, policies, claimScheduled, traceContext, rerunOf];

/** Arbitrary, fixed: the advisory lock key of longrun's migrations (with the schema's hash). */
const MIGRATION_LOCK = 0x6c6f6e67; // "long"

export async function migrate(pool: pg.Pool, schema: string, quotedSchema: string): Promise<void> {
  for (const migration of migrations) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, schema]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quotedSchema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${quotedSchema}.migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
      const applied = await client.query(`SELECT 1 FROM ${quotedSchema}.migrations WHERE version = $1`, [migration.version]);
      if (applied.rowCount === 0) {
        await client.query(migration.sql(quotedSchema));
        await client.query(`INSERT INTO ${quotedSchema}.migrations (version) VALUES ($1)`, [migration.version]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
