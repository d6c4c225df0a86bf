import type { Migration } from './index.js';

/** The delivery snapshot's columns as 0002's trigger copies them, written out so this migration stays as released. */
const SNAPSHOT = `name, parent, method, owner, metadata_type, metadata_value, response_type, response_value,
  error_code, error_message, error_details, progress_percent, create_time, update_time, done_time`;
const FROM_NEW = SNAPSHOT.split(',').map((column) => `NEW.${column.trim()}`).join(', ');

/** The same columns as SQLite's 0008: the creating call's trace context, kept with the operation and each delivery. */
export const traceContext: Migration = {
  version: 6,
  sql: (schema) => `
ALTER TABLE ${schema}.operations ADD COLUMN trace_context TEXT;
ALTER TABLE ${schema}.deliveries ADD COLUMN trace_context TEXT;

CREATE OR REPLACE FUNCTION ${schema}.write_deliveries() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  INSERT INTO ${schema}.deliveries (id, url, state, next_attempt_at, enqueue_time, state_time, ${SNAPSHOT}, trace_context)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), u.url,
      CASE WHEN EXISTS (SELECT 1 FROM ${schema}.callback_gone g WHERE g.url = u.url) THEN 'gone' ELSE 'pending' END,
      NEW.done_time, NEW.done_time, NEW.done_time, ${FROM_NEW}, NEW.trace_context
    FROM (SELECT jsonb_array_elements_text(NEW.callbacks) AS url) AS u;
  RETURN NULL;
END
$body$;
`,
};
