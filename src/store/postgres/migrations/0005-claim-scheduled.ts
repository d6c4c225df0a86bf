import type { Migration } from './index.js';

/** The same indexes as SQLite's 0007: claims seek due work (see ../../sql/policies.ts, "Due"). */
export const claimScheduled: Migration = {
  version: 5,
  sql: (schema) => `
DROP INDEX ${schema}.operations_claim;
CREATE INDEX operations_claim ON ${schema}.operations (method, priority DESC, fair_seq, create_time) WHERE NOT done AND run_after = 0;
CREATE INDEX operations_scheduled ON ${schema}.operations (method, run_after) WHERE NOT done AND run_after > 0;
`,
};
