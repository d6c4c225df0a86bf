import type { Migration } from './index.js';

/**
 * The fair-share index over every row, not only unfinished ones: a completion then changes nothing
 * it holds (its entry's removal was about a quarter of a completion's cost), and a new operation reads its principal's last
 * row and whether that one is unfinished (see ../../sql/policies.ts, Fair share).
 */
export const fairAll: Migration = {
  version: 11,
  sql: `
DROP INDEX operations_fair;
CREATE INDEX operations_fair ON operations (owner, method, priority, fair_seq);
`,
};
