import type { Migration } from './index.js';

/**
 * The change log that lets several processes on one file wake each other: every write appends what
 * it changed in its own transaction, and other processes read the new rows when PRAGMA
 * data_version says someone else committed. `origin` is the writing store, so a process skips its
 * own (it told its subscribers at commit). Rows older than a minute are trimmed by the writers.
 */
export const changes: Migration = {
  version: 3,
  sql: `
CREATE TABLE changes (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  origin  TEXT    NOT NULL,
  kind    TEXT    NOT NULL,
  subject TEXT    NOT NULL,
  at      INTEGER NOT NULL
);
`,
};
