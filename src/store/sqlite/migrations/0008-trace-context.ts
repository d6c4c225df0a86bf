import type { Migration } from './index.js';

/** The delivery snapshot's columns as 0004's trigger copies them, written out so this migration stays as released. */
const SNAPSHOT = `name, parent, method, owner, metadata_type, metadata_value, response_type, response_value,
  error_code, error_message, error_details, progress_percent, create_time, update_time, done_time`;
const FROM_NEW = SNAPSHOT.split(',').map((column) => `NEW.${column.trim()}`).join(', ');

/**
 * The creating call's trace context (JSON of its propagation headers), kept with the operation so
 * whichever process runs it continues the trace, and copied into each delivery so the webhook's
 * receiver continues it too: the deliveries trigger is made again with the one column more.
 */
export const traceContext: Migration = {
  version: 8,
  sql: `
ALTER TABLE operations ADD COLUMN trace_context TEXT;
ALTER TABLE deliveries ADD COLUMN trace_context TEXT;

DROP TRIGGER operations_deliveries;
CREATE TRIGGER operations_deliveries AFTER UPDATE OF done ON operations
WHEN NEW.done = 1 AND OLD.done = 0 AND NEW.callbacks IS NOT NULL
BEGIN
  INSERT INTO deliveries (id, url, state, next_attempt_at, enqueue_time, state_time, ${SNAPSHOT}, trace_context)
    SELECT 'msg_' || lower(hex(randomblob(16))), u.url,
      CASE WHEN EXISTS (SELECT 1 FROM callback_gone g WHERE g.url = u.url) THEN 'gone' ELSE 'pending' END,
      NEW.done_time, NEW.done_time, NEW.done_time, ${FROM_NEW}, NEW.trace_context
    FROM (SELECT value AS url FROM json_each(NEW.callbacks)) AS u;
END;
`,
};
