import { deliveriesFromTrigger } from '../../sql/deliveries.js';
import type { Migration } from './index.js';

/** Completion callbacks: the URLs an operation's end goes to, and the outbox (see ../../sql/deliveries.ts). */
export const deliveries: Migration = {
  version: 4,
  sql: `
ALTER TABLE operations ADD COLUMN callbacks TEXT;

CREATE TABLE deliveries (
  id               TEXT    PRIMARY KEY,
  url              TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'gone')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  claim            INTEGER NOT NULL DEFAULT 0,
  lease_holder     TEXT,
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  enqueue_time     INTEGER NOT NULL,
  state_time       INTEGER NOT NULL,
  delivered_time   INTEGER,
  last_status      INTEGER,
  last_error       TEXT,
  name             TEXT    NOT NULL,
  parent           TEXT    NOT NULL,
  method           TEXT    NOT NULL,
  owner            TEXT    NOT NULL,
  metadata_type    TEXT,
  metadata_value   BLOB,
  response_type    TEXT,
  response_value   BLOB,
  error_code       INTEGER,
  error_message    TEXT,
  error_details    TEXT,
  progress_percent REAL    NOT NULL,
  create_time      INTEGER NOT NULL,
  update_time      INTEGER NOT NULL,
  done_time        INTEGER
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_list ON deliveries (enqueue_time DESC, id DESC);
CREATE INDEX deliveries_state ON deliveries (state, enqueue_time DESC, id DESC);
CREATE INDEX deliveries_operation ON deliveries (name);
CREATE INDEX deliveries_url ON deliveries (url) WHERE state = 'pending';

-- Receivers that answered 410 Gone: nothing more is sent to them until an operator retries.
CREATE TABLE callback_gone (
  url   TEXT PRIMARY KEY,
  since INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER operations_deliveries AFTER UPDATE OF done ON operations
WHEN NEW.done = 1 AND OLD.done = 0 AND NEW.callbacks IS NOT NULL
BEGIN
  ${deliveriesFromTrigger({
    id: "'msg_' || lower(hex(randomblob(16)))",
    urls: '(SELECT value AS url FROM json_each(NEW.callbacks))',
    deliveries: 'deliveries',
    gone: 'callback_gone',
  })};
END;
`,
};
