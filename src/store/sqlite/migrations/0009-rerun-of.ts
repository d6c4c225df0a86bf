import type { Migration } from './index.js';

/** Re-runs (issue 21 §4): the operation a re-run was made from, shown beside it. */
export const rerunOf: Migration = {
  version: 9,
  sql: `
ALTER TABLE operations ADD COLUMN rerun_of TEXT;
`,
};
