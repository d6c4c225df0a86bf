import type { Migration } from './index.js';

/**
 * Claims seek due work instead of walking past work whose time has not come (see
 * ../../sql/policies.ts, "Due"): the claim index keeps only operations that never had a start or
 * retry time; those that did are found through their time.
 */
export const claimScheduled: Migration = {
  version: 7,
  sql: `
DROP INDEX operations_claim;
CREATE INDEX operations_claim ON operations (method, priority DESC, fair_seq, create_time) WHERE done = 0 AND run_after = 0;
CREATE INDEX operations_scheduled ON operations (method, run_after) WHERE done = 0 AND run_after > 0;
`,
};
