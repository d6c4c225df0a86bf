/**
 * The `operations` row as both SQL backends return it, and its conversion to an OperationRecord.
 * SQLite hands back 0/1 for booleans and Buffers for blobs; PostgreSQL booleans and Buffers for
 * bytea (its BIGINTs are parsed to numbers when the pool is made).
 */
import { Code, LongrunError } from '../../domain/errors.js';
import type { AnswerStyle, AnyMessage, Lease, OperationError, OperationRecord, TraceCarrier } from '../../domain/operation.js';
import type { NewOperation } from '../types.js';

/** A row of `operations` (`request_*` only when selected). */
export interface OperationRow {
  name: string;
  parent: string;
  method: string;
  owner: string;
  done: number | boolean;
  metadata_type: string | null;
  metadata_value: Buffer | null;
  response_type: string | null;
  response_value: Buffer | null;
  error_code: number | null;
  error_message: string | null;
  error_details: string | null;
  progress_percent: number;
  estimated_completion: number | null;
  request_type?: string;
  request_value?: Buffer;
  idempotency_key: string | null;
  request_fingerprint: string | null;
  lease_holder: string | null;
  lease_expires_at: number;
  attempt: number;
  max_attempts: number;
  cancel_requested: number | boolean;
  create_time: number;
  update_time: number;
  done_time: number | null;
  expire_time: number | null;
  answer_style: string | null;
  run_after: number;
  priority: number;
  /** Only in claims' `RETURNING *`. */
  fair_seq?: number;
  concurrency_key: string | null;
  timeout_ms: number | null;
  start_deadline: number | null;
  last_error_code: number | null;
  last_error_message: string | null;
  /** JSON of the trace carrier (migrations 0008 / 0006). */
  trace_context: string | null;
  rerun_of: string | null;
}

/** Everything but the request, which only a runner needs. */
export const READ_COLUMNS = `name, parent, method, owner, done, metadata_type, metadata_value, response_type,
  response_value, error_code, error_message, error_details, progress_percent, estimated_completion,
  idempotency_key, request_fingerprint, lease_holder, lease_expires_at, attempt, max_attempts,
  cancel_requested, create_time, update_time, done_time, expire_time, answer_style, run_after, priority,
  concurrency_key, timeout_ms, start_deadline, last_error_code, last_error_message, trace_context, rerun_of`;

export function toRecord(row: OperationRow): OperationRecord {
  const record: OperationRecord = {
    name: row.name,
    parent: row.parent,
    method: row.method,
    owner: row.owner,
    done: row.done === 1 || row.done === true,
    progressPercent: row.progress_percent,
    leaseExpiresAt: row.lease_expires_at,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    cancelRequested: row.cancel_requested === 1 || row.cancel_requested === true,
    createTime: row.create_time,
    updateTime: row.update_time,
    runAfter: row.run_after,
    priority: row.priority,
  };
  if (row.concurrency_key !== null) record.concurrencyKey = row.concurrency_key;
  if (row.rerun_of !== null && row.rerun_of !== undefined) record.rerunOf = row.rerun_of;
  if (row.timeout_ms !== null) record.timeoutMs = row.timeout_ms;
  if (row.start_deadline !== null) record.startDeadline = row.start_deadline;
  const traceContext = row.trace_context === null ? undefined : traceCarrierOf(row.trace_context);
  if (traceContext !== undefined) record.traceContext = traceContext;
  if (row.last_error_code !== null) record.lastError = { code: row.last_error_code as Code, message: row.last_error_message ?? '' };
  if (row.metadata_type !== null && row.metadata_value !== null) {
    record.metadata = { typeUrl: row.metadata_type, value: row.metadata_value };
  }
  if (row.response_type !== null && row.response_value !== null) {
    record.response = { typeUrl: row.response_type, value: row.response_value };
  }
  if (row.error_code !== null) {
    record.error = {
      code: row.error_code as Code,
      message: row.error_message ?? '',
      details: row.error_details === null ? [] : (JSON.parse(row.error_details) as { typeUrl: string; value: string }[]).map(decodeAny),
    };
  }
  if (row.request_type !== undefined && row.request_value !== undefined) {
    record.request = { typeUrl: row.request_type, value: row.request_value };
  }
  if (row.estimated_completion !== null) record.estimatedCompletion = row.estimated_completion;
  if (row.idempotency_key !== null) record.idempotencyKey = row.idempotency_key;
  if (row.request_fingerprint !== null) record.requestFingerprint = row.request_fingerprint;
  if (row.lease_holder !== null) record.leaseHolder = row.lease_holder;
  if (row.done_time !== null) record.doneTime = row.done_time;
  if (row.expire_time !== null) record.expireTime = row.expire_time;
  if (row.answer_style !== null) record.answerStyle = row.answer_style as AnswerStyle;
  return record;
}

/** The record of an operation just inserted by `create`, without reading it back. */
export function newRecord(op: NewOperation): OperationRecord {
  return {
    name: op.name,
    parent: op.parent,
    method: op.method,
    owner: op.owner,
    done: false,
    ...(op.metadata && { metadata: op.metadata }),
    progressPercent: 0,
    request: op.request,
    ...(op.idempotencyKey !== undefined && { idempotencyKey: op.idempotencyKey }),
    ...(op.requestFingerprint !== undefined && { requestFingerprint: op.requestFingerprint }),
    leaseExpiresAt: 0,
    attempt: 0,
    maxAttempts: op.maxAttempts,
    cancelRequested: false,
    createTime: op.createTime,
    updateTime: op.createTime,
    ...(op.answerStyle !== undefined && { answerStyle: op.answerStyle }),
    runAfter: op.runAfter ?? 0,
    priority: op.priority ?? 0,
    ...(op.concurrencyKey !== undefined && { concurrencyKey: op.concurrencyKey }),
    ...(op.timeoutMs !== undefined && { timeoutMs: op.timeoutMs }),
    ...(op.startDeadline !== undefined && { startDeadline: op.startDeadline }),
    ...(op.traceContext !== undefined && { traceContext: op.traceContext }),
    ...(op.rerunOf !== undefined && { rerunOf: op.rerunOf }),
  };
}

/** What `getRequest` selects. */
export interface RequestRow {
  request_type: string;
  request_value: Buffer;
  expire_time: number | null;
}

export function requestOf(row: RequestRow | undefined, now: number): AnyMessage | undefined {
  if (row === undefined || (row.expire_time !== null && row.expire_time <= now)) return undefined;
  return { typeUrl: row.request_type, value: row.request_value };
}

/** Claimed rows in claim order (a statement's RETURNING has none). */
export function inClaimOrder(rows: OperationRow[]): OperationRow[] {
  return rows.sort((a, b) => b.priority - a.priority || (a.fair_seq ?? 0) - (b.fair_seq ?? 0) || a.create_time - b.create_time);
}

/**
 * Whether a new operation sets a column that most leave at its default (0 or NULL): a policy, a
 * trace, a re-run link. An insert of one that does not can leave them out.
 */
export function hasPolicyColumns(op: NewOperation): boolean {
  return (
    (op.runAfter ?? 0) !== 0 ||
    (op.priority ?? 0) !== 0 ||
    op.concurrencyKey !== undefined ||
    op.timeoutMs !== undefined ||
    op.startDeadline !== undefined ||
    op.rerunOf !== undefined ||
    (op.traceContext !== undefined && Object.keys(op.traceContext).length > 0)
  );
}

/** The policy columns of a new operation, as statement parameters. */
export function policyParams(op: NewOperation) {
  return {
    runAfter: op.runAfter ?? 0,
    priority: op.priority ?? 0,
    concurrencyKey: op.concurrencyKey ?? null,
    timeoutMs: op.timeoutMs ?? null,
    startDeadline: op.startDeadline ?? null,
    rerunOf: op.rerunOf ?? null,
  };
}

/** The trace carrier as kept in `trace_context` (NULL when the call carried none). */
export function traceContextColumn(carrier: TraceCarrier | undefined): string | null {
  return carrier === undefined || Object.keys(carrier).length === 0 ? null : JSON.stringify(carrier);
}

/** A stored carrier; anything unreadable is no context (a trace is advice, never a reason to fail). */
function traceCarrierOf(text: string): TraceCarrier | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return undefined;
  }
}

export function fence(lease: Lease) {
  return { name: lease.name, holder: lease.holder, attempt: lease.attempt };
}

export function errorColumns(error: OperationError) {
  return {
    errorCode: error.code,
    errorMessage: error.message,
    errorDetails: error.details.length === 0 ? null : JSON.stringify(error.details.map(encodeAny)),
  };
}

function encodeAny(any: AnyMessage) {
  return { typeUrl: any.typeUrl, value: Buffer.from(any.value).toString('base64') };
}

function decodeAny(any: { typeUrl: string; value: string }): AnyMessage {
  return { typeUrl: any.typeUrl, value: Buffer.from(any.value, 'base64') };
}

/** The idempotency key exists with another request: the caller's mistake, whatever the backend. */
export function keyReused(): LongrunError {
  return new LongrunError(
    Code.INVALID_ARGUMENT,
    'idempotency-key: this key was already used with a different request',
    'IDEMPOTENCY_KEY_REUSED',
    { metadata: { field: 'idempotency-key' } },
  );
}

/** What an existing row holding the key means for a new creation at `now`. */
export function keyHolderVerdict(existing: OperationRow, op: NewOperation): 'expired' | 'same' | 'reused' {
  if (existing.expire_time !== null && existing.expire_time <= op.createTime) return 'expired';
  return existing.request_fingerprint === (op.requestFingerprint ?? null) ? 'same' : 'reused';
}
