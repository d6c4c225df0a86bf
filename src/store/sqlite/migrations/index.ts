/**
 * Numbered, append-only schema migrations. Never edit a released one: add the next number.
 * Each runs in its own transaction and bumps `PRAGMA user_version` to its number.
 */
import { init } from './0001-init.js';
import { listAll } from './0002-list-all.js';
import { changes } from './0003-changes.js';
import { deliveries } from './0004-deliveries.js';
import { answerStyle } from './0005-answer-style.js';
import { policies } from './0006-policies.js';
import { claimScheduled } from './0007-claim-scheduled.js';
import { traceContext } from './0008-trace-context.js';
import { rerunOf } from './0009-rerun-of.js';
import { keyed } from './0010-keyed.js';
import { fairAll } from './0011-fair-all.js';

export interface Migration {
  version: number;
  sql: string;
}

export const migrations: readonly Migration[] = [init, listAll, changes, deliveries, answerStyle, policies, claimScheduled, traceContext, rerunOf, keyed, fairAll];

/** Applies the migrations a database lacks, each in its own IMMEDIATE transaction; safe when several processes start at once. */
export function migrate(db: import('better-sqlite3').Database): void {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  const pending = migrations.filter((migration) => migration.version > version());
  for (const migration of pending) {
    db.transaction(() => {
      if (version() >= migration.version) return; // another process got there first
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}
