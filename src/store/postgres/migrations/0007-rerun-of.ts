import type { Migration } from './index.js';

/** The same column as SQLite's 0009: the operation a re-run was made from. */
export const rerunOf: Migration = {
  version: 7,
  sql: (schema) => `
ALTER TABLE ${schema}.operations ADD COLUMN rerun_of TEXT COLLATE "C";
`,
};
