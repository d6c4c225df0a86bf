import type { Migration } from './index.js';

/** The same column as SQLite's 0005: how the creating call was answered over HTTP (NULL: 'async'). */
export const answerStyle: Migration = {
  version: 3,
  sql: (schema) => `ALTER TABLE ${schema}.operations ADD COLUMN answer_style TEXT CHECK (answer_style IN ('google', 'async'));`,
};
