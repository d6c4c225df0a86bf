import type { Migration } from './index.js';

/**
 * Scheduling policies (see ../../sql/policies.ts): start and retry times, priorities, fair share,
 * concurrency keys, timeouts, start deadlines, and the error of the last failed attempt. The claim
 * index now walks (priority, fair_seq, create_time); one leased row per concurrency key is a unique index.
 */
export const policies: Migration = {
  version: 6,
  sql: `
ALTER TABLE operations ADD COLUMN run_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN fair_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN concurrency_key TEXT;
ALTER TABLE operations ADD COLUMN running_key TEXT;
ALTER TABLE operations ADD COLUMN timeout_ms INTEGER;
ALTER TABLE operations ADD COLUMN start_deadline INTEGER;
ALTER TABLE operations ADD COLUMN last_error_code INTEGER;
ALTER TABLE operations ADD COLUMN last_error_message TEXT;

DROP INDEX operations_claim;
CREATE INDEX operations_claim ON operations (method, priority DESC, fair_seq, create_time) WHERE done = 0;
CREATE INDEX operations_fair ON operations (owner, method, priority, fair_seq) WHERE done = 0;
CREATE UNIQUE INDEX operations_running_key ON operations (running_key) WHERE running_key IS NOT NULL;
CREATE INDEX operations_start_deadline ON operations (start_deadline) WHERE done = 0 AND start_deadline IS NOT NULL;
`,
};
