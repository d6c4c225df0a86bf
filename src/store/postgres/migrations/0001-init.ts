import type { Migration } from './index.js';

/** The same table as SQLite's 0001-0002, in PostgreSQL types; names compare bytewise (COLLATE "C") as in SQLite. */
export const init: Migration = {
  version: 1,
  sql: (schema) => `
CREATE TABLE ${schema}.operations (
  name                 TEXT COLLATE "C" PRIMARY KEY,
  parent               TEXT COLLATE "C" NOT NULL,
  method               TEXT COLLATE "C" NOT NULL,
  owner                TEXT COLLATE "C" NOT NULL,
  done                 BOOLEAN NOT NULL DEFAULT false,
  metadata_type        TEXT,
  metadata_value       BYTEA,
  response_type        TEXT,
  response_value       BYTEA,
  error_code           INTEGER CHECK (error_code IS NULL OR error_code <> 0),
  error_message        TEXT,
  error_details        TEXT,
  progress_percent     DOUBLE PRECISION NOT NULL DEFAULT 0,
  estimated_completion BIGINT,
  request_type         TEXT    NOT NULL,
  request_value        BYTEA   NOT NULL,
  idempotency_key      TEXT COLLATE "C",
  request_fingerprint  TEXT,
  lease_holder         TEXT,
  lease_expires_at     BIGINT  NOT NULL DEFAULT 0,
  attempt              INTEGER NOT NULL DEFAULT 0,
  max_attempts         INTEGER NOT NULL,
  cancel_requested     BOOLEAN NOT NULL DEFAULT false,
  create_time          BIGINT  NOT NULL,
  update_time          BIGINT  NOT NULL,
  done_time            BIGINT,
  expire_time          BIGINT,
  CHECK (NOT done OR (response_type IS NULL) <> (error_code IS NULL))
);

CREATE INDEX operations_list ON ${schema}.operations (owner, parent, create_time DESC, name DESC);
CREATE INDEX operations_list_done ON ${schema}.operations (owner, parent, done, create_time DESC, name DESC);
CREATE INDEX operations_list_all ON ${schema}.operations (parent, create_time DESC, name DESC);
CREATE INDEX operations_claim ON ${schema}.operations (method, create_time) WHERE NOT done;
CREATE INDEX operations_lease ON ${schema}.operations (lease_expires_at) WHERE NOT done AND lease_expires_at > 0;
CREATE INDEX operations_expiry ON ${schema}.operations (expire_time) WHERE expire_time IS NOT NULL;
CREATE UNIQUE INDEX operations_idempotency ON ${schema}.operations (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE ${schema}.meta (
  key   TEXT PRIMARY KEY,
  value BYTEA NOT NULL
);
`,
};
