import type { Migration } from './index.js';

export const init: Migration = {
  version: 1,
  sql: `
CREATE TABLE operations (
  name                 TEXT    NOT NULL UNIQUE,
  parent               TEXT    NOT NULL,
  method               TEXT    NOT NULL,
  owner                TEXT    NOT NULL,
  done                 INTEGER NOT NULL DEFAULT 0,
  metadata_type        TEXT,
  metadata_value       BLOB,
  response_type        TEXT,
  response_value       BLOB,
  error_code           INTEGER CHECK (error_code IS NULL OR error_code <> 0),
  error_message        TEXT,
  error_details        TEXT,
  progress_percent     REAL    NOT NULL DEFAULT 0,
  estimated_completion INTEGER,
  request_type         TEXT    NOT NULL,
  request_value        BLOB    NOT NULL,
  idempotency_key      TEXT,
  request_fingerprint  TEXT,
  lease_holder         TEXT,
  lease_expires_at     INTEGER NOT NULL DEFAULT 0,
  attempt              INTEGER NOT NULL DEFAULT 0,
  max_attempts         INTEGER NOT NULL,
  cancel_requested     INTEGER NOT NULL DEFAULT 0,
  create_time          INTEGER NOT NULL,
  update_time          INTEGER NOT NULL,
  done_time            INTEGER,
  expire_time          INTEGER,
  CHECK (done = 0 OR (response_type IS NULL) <> (error_code IS NULL))
);

-- ListOperations: newest first within (owner, parent), with and without a done filter.
CREATE INDEX operations_list ON operations (owner, parent, create_time DESC, name DESC);
CREATE INDEX operations_list_done ON operations (owner, parent, done, create_time DESC, name DESC);
-- Claiming: oldest unfinished operations of a method.
CREATE INDEX operations_claim ON operations (method, create_time) WHERE done = 0;
-- Recovering leases that ran out.
CREATE INDEX operations_lease ON operations (lease_expires_at) WHERE done = 0 AND lease_expires_at > 0;
-- Retention sweep.
CREATE INDEX operations_expiry ON operations (expire_time) WHERE expire_time IS NOT NULL;
-- Idempotent creation, scoped per owner.
CREATE UNIQUE INDEX operations_idempotency ON operations (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
`,
};
