/**
 * The names a call carries besides its message, the same on both transports: gRPC metadata keys
 * and HTTP headers (HTTP's are case-insensitive; node:http gives them lowercase). The policy
 * headers (`longrun-timeout`, `longrun-priority`...) are named beside their parsing, in
 * ../operations/create-options.ts.
 */

/** AIP-155 style idempotency for methods whose request has no `request_id` field. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Where the operation's end is POSTed (completion callbacks); the request's `callback_url` field otherwise. */
export const CALLBACK_URL_HEADER = 'longrun-callback-url';
/** Progress is not part of google.longrunning.Operation: unfinished operations report it here. */
export const PROGRESS_HEADER = 'longrun-progress-percent';
/** When the handler expects to finish, RFC 3339. */
export const ESTIMATED_COMPLETION_HEADER = 'longrun-estimated-completion';
/** `Bearer <token>`. */
export const AUTHORIZATION_HEADER = 'authorization';
/** W3C trace context of the calling span. */
export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';

/** The progress headers of an unfinished operation (none once it is done). */
export function progressHeaders(record: { done: boolean; progressPercent: number; estimatedCompletion?: number | undefined }): Record<string, string> {
  if (record.done) return {};
  return {
    [PROGRESS_HEADER]: String(record.progressPercent),
    ...(record.estimatedCompletion !== undefined && { [ESTIMATED_COMPLETION_HEADER]: new Date(record.estimatedCompletion).toISOString() }),
  };
}
