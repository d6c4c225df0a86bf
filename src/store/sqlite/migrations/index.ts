/**
 * Numbered, append-only schema migrations. Never edit a released one: add the next number.
 * Each runs in its own transaction and bumps `PRAGMA user_version` to its number.
 */
import { init } from './0001-init.js';
import { listAll } from './0002-list-all.js';

export interface Migration {
  version: number;
  sql: string;
}

export const migrations: readonly Migration[] = [init, listAll];
