import type { Migration } from './index.js';

/** The same columns and indexes as SQLite's 0006 (see ../../sql/policies.ts). */
export const policies: Migration = {
  version: 4,
  sql: (schema) => `
ALTER TABLE ${schema}.operations
  ADD COLUMN run_after BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN priority INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN fair_seq BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN concurrency_key TEXT COLLATE "C",
  ADD COLUMN running_key TEXT COLLATE "C",
  ADD COLUMN timeout_ms BIGINT,
  ADD COLUMN start_deadline BIGINT,
  ADD COLUMN last_error_code INTEGER,
  ADD COLUMN last_error_message TEXT;

DROP INDEX ${schema}.operations_claim;
CREATE INDEX operations_claim ON ${schema}.operations (method, priority DESC, fair_seq, create_time) WHERE NOT done;
CREATE INDEX operations_fair ON ${schema}.operations (owner, method, priority, fair_seq) WHERE NOT done;
CREATE UNIQUE INDEX operations_running_key ON ${schema}.operations (running_key) WHERE running_key IS NOT NULL;
CREATE INDEX operations_start_deadline ON ${schema}.operations (start_deadline) WHERE NOT done AND start_deadline IS NOT NULL;
`,
};
