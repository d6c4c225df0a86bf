import type { Migration } from './index.js';

/**
 * Unfinished operations with a concurrency key, by method: a claim reads more candidates than it
 * takes only where some are keyed (see ../../sql/policies.ts, claimScan). Keyless work adds
 * nothing to it.
 */
export const keyed: Migration = {
  version: 10,
  sql: `
CREATE INDEX operations_keyed ON operations (method) WHERE done = 0 AND concurrency_key IS NOT NULL;
`,
};
