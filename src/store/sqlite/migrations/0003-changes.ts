import type { Migration } from './index.js';

/**
 * The change log that lets several processes on one file wake each other: every write appends what
 * it changed in its own transaction, and other processes read the new rows when PRAGMA
 * data_version says someone else committed. `origin` is the writing store, so a process skips its
 * own (it told its subscribers at commit). Writers trim all but the newest rows (by `seq`; the
 * newest row is never deleted, so a `seq` is never reused).
 */
export const changes: Migration = {
  version: 3,
  sql: `
CREATE TABLE changes (
  seq     INTEGER PRIMARY KEY,
  origin  TEXT    NOT NULL,
  kind    TEXT    NOT NULL,
  subject TEXT    NOT NULL,
  at      INTEGER NOT NULL
);
`,
};
