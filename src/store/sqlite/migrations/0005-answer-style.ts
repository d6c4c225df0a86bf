import type { Migration } from './index.js';

/**
 * How the HTTP front answered the creating call ('google': 200 and no Retry-After; 'async': 202 with
 * Location and Retry-After), so every server answers the operation's polls the same way. NULL on
 * operations created before it: they were all answered 'async'.
 */
export const answerStyle: Migration = {
  version: 5,
  sql: `ALTER TABLE operations ADD COLUMN answer_style TEXT CHECK (answer_style IN ('google', 'async'));`,
};
