import type { Migration } from './index.js';

/**
 * ListOperations across every owner: an admin's, which is also every call of a server without
 * authentication (its one caller is an admin). The owner-first indexes of 0001 cannot order these,
 * so such a list sorted the whole table (about 180 ms a page at 1,000,000 operations).
 */
export const listAll: Migration = {
  version: 2,
  sql: `
CREATE INDEX operations_list_all ON operations (parent, create_time DESC, name DESC);
CREATE INDEX operations_list_all_done ON operations (parent, done, create_time DESC, name DESC);
`,
};
