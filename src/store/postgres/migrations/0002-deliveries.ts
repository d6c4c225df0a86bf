import { deliveriesFromTrigger } from '../../sql/deliveries.js';
import type { Migration } from './index.js';

/** Completion callbacks, as SQLite's 0004: the URLs an operation's end goes to, and the outbox (see ../../sql/deliveries.ts). */
export const deliveries: Migration = {
  version: 2,
  sql: (schema) => `
ALTER TABLE ${schema}.operations ADD COLUMN callbacks JSONB;

CREATE TABLE ${schema}.deliveries (
  id               TEXT COLLATE "C" PRIMARY KEY,
  url              TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'gone')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  BIGINT  NOT NULL,
  claim            INTEGER NOT NULL DEFAULT 0,
  lease_holder     TEXT,
  lease_expires_at BIGINT  NOT NULL DEFAULT 0,
  enqueue_time     BIGINT  NOT NULL,
  state_time       BIGINT  NOT NULL,
  delivered_time   BIGINT,
  last_status      INTEGER,
  last_error       TEXT,
  name             TEXT COLLATE "C" NOT NULL,
  parent           TEXT    NOT NULL,
  method           TEXT    NOT NULL,
  owner            TEXT    NOT NULL,
  metadata_type    TEXT,
  metadata_value   BYTEA,
  response_type    TEXT,
  response_value   BYTEA,
  error_code       INTEGER,
  error_message    TEXT,
  error_details    TEXT,
  progress_percent DOUBLE PRECISION NOT NULL,
  create_time      BIGINT  NOT NULL,
  update_time      BIGINT  NOT NULL,
  done_time        BIGINT
);
CREATE INDEX deliveries_due ON ${schema}.deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_list ON ${schema}.deliveries (enqueue_time DESC, id DESC);
CREATE INDEX deliveries_state ON ${schema}.deliveries (state, enqueue_time DESC, id DESC);
CREATE INDEX deliveries_operation ON ${schema}.deliveries (name);
CREATE INDEX deliveries_url ON ${schema}.deliveries (url) WHERE state = 'pending';

CREATE TABLE ${schema}.callback_gone (
  url   TEXT PRIMARY KEY,
  since BIGINT NOT NULL
);

CREATE FUNCTION ${schema}.write_deliveries() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  ${deliveriesFromTrigger({
    id: "'msg_' || replace(gen_random_uuid()::text, '-', '')",
    urls: '(SELECT jsonb_array_elements_text(NEW.callbacks) AS url)',
    deliveries: `${schema}.deliveries`,
    gone: `${schema}.callback_gone`,
  })};
  RETURN NULL;
END
$body$;

CREATE TRIGGER operations_deliveries AFTER UPDATE OF done ON ${schema}.operations
  FOR EACH ROW WHEN (NEW.done AND NOT OLD.done AND NEW.callbacks IS NOT NULL)
  EXECUTE FUNCTION ${schema}.write_deliveries();
`,
};
