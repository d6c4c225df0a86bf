/**
 * The scheduling options of a creating call, read once for every transport: gRPC metadata and
 * HTTP headers carry the same names (HTTP's are case-insensitive: `Longrun-Priority`), and the
 * embedding API passes the same values typed. A bad value is INVALID_ARGUMENT naming the header
 * (or option) and the rule, before anything is created.
 */
import { invalidArgument } from '../domain/errors.js';

export const TIMEOUT_HEADER = 'longrun-timeout';
export const START_DEADLINE_HEADER = 'longrun-start-deadline';
export const START_TIME_HEADER = 'longrun-start-time';
export const PRIORITY_HEADER = 'longrun-priority';
export const CONCURRENCY_KEY_HEADER = 'longrun-concurrency-key';

/** Priorities an operation may have; higher runs first, 0 by default. */
export const PRIORITY_RANGE = { min: -1000, max: 1000 } as const;
/** Longest concurrency key, in characters. */
export const MAX_CONCURRENCY_KEY_LENGTH = 256;
/** Longest execution timeout an operation may ask for when its method sets none (7 days). */
export const MAX_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;

/** The policies of one new operation, in ms since the epoch / ms; each with the name its value came under. */
export interface CreatePolicies {
  startTime?: number;
  priority?: number;
  concurrencyKey?: string;
  timeoutMs?: number;
  startDeadline?: number;
  /** Where each value came from, for error messages (a header, or an option of `create()`). */
  fields: Partial<Record<'startTime' | 'priority' | 'concurrencyKey' | 'timeoutMs' | 'startDeadline', string>>;
}

/** The options of the embedding API's `create()` (and the typed client) that set policies. */
export interface PolicyOptions {
  /** Not started before this time; the operation exists at once. */
  startTime?: Date | string;
  /** Higher first among due operations of the method, within PRIORITY_RANGE (default 0). */
  priority?: number;
  /** At most one operation per key runs at once, across every process on the store. */
  concurrencyKey?: string;
  /** Execution timeout of each run: milliseconds, or a Duration such as `'30s'`; never above the method's. */
  timeout?: number | string;
  /** Not started by then: it ends DEADLINE_EXCEEDED without starting. */
  startDeadline?: Date | string;
}

/** Reads the policy headers through `header` (lowercase names; undefined when absent). */
export function policiesFromHeaders(header: (name: string) => string | undefined): CreatePolicies {
  const policies: CreatePolicies = { fields: {} };
  const timeout = header(TIMEOUT_HEADER);
  if (timeout !== undefined) set(policies, 'timeoutMs', TIMEOUT_HEADER, parseDuration(timeout, TIMEOUT_HEADER));
  const startTime = header(START_TIME_HEADER);
  if (startTime !== undefined) set(policies, 'startTime', START_TIME_HEADER, parseTimestamp(startTime, START_TIME_HEADER));
  const startDeadline = header(START_DEADLINE_HEADER);
  if (startDeadline !== undefined) set(policies, 'startDeadline', START_DEADLINE_HEADER, parseTimestamp(startDeadline, START_DEADLINE_HEADER));
  const priority = header(PRIORITY_HEADER);
  if (priority !== undefined) {
    if (!/^[+-]?\d{1,10}$/.test(priority.trim())) throw invalidArgument(PRIORITY_HEADER, `must be an integer within ${rangeText()}, got ${quote(priority)}`);
    set(policies, 'priority', PRIORITY_HEADER, Number(priority.trim()));
  }
  const key = header(CONCURRENCY_KEY_HEADER);
  if (key !== undefined) set(policies, 'concurrencyKey', CONCURRENCY_KEY_HEADER, key);
  return checkPolicies(policies);
}

/** The embedding API's options, typed, checked as the headers are. */
export function policiesFromOptions(options: PolicyOptions): CreatePolicies {
  const policies: CreatePolicies = { fields: {} };
  if (options.timeout !== undefined) {
    const ms = typeof options.timeout === 'string' ? parseDuration(options.timeout, 'timeout') : options.timeout;
    set(policies, 'timeoutMs', 'timeout', ms);
  }
  if (options.startTime !== undefined) set(policies, 'startTime', 'startTime', timeOf(options.startTime, 'startTime'));
  if (options.startDeadline !== undefined) set(policies, 'startDeadline', 'startDeadline', timeOf(options.startDeadline, 'startDeadline'));
  if (options.priority !== undefined) set(policies, 'priority', 'priority', options.priority);
  if (options.concurrencyKey !== undefined) set(policies, 'concurrencyKey', 'concurrencyKey', options.concurrencyKey);
  return checkPolicies(policies);
}

/**
 * The headers (gRPC metadata) that ask for `options`, for clients: set them on a generated
 * client's call (`new Metadata()` + `set`) or on an HTTP request. Checked as the server checks them.
 */
export function policyHeaders(options: PolicyOptions): Record<string, string> {
  const policies = policiesFromOptions(options);
  const headers: Record<string, string> = {};
  if (policies.timeoutMs !== undefined) headers[TIMEOUT_HEADER] = `${policies.timeoutMs / 1000}s`;
  if (policies.startTime !== undefined) headers[START_TIME_HEADER] = new Date(policies.startTime).toISOString();
  if (policies.startDeadline !== undefined) headers[START_DEADLINE_HEADER] = new Date(policies.startDeadline).toISOString();
  if (policies.priority !== undefined) headers[PRIORITY_HEADER] = String(policies.priority);
  if (policies.concurrencyKey !== undefined) headers[CONCURRENCY_KEY_HEADER] = policies.concurrencyKey;
  return headers;
}

/** Headers win over options given for the same policy (a transport passes both only in tests). */
export function mergePolicies(base: CreatePolicies, over: CreatePolicies): CreatePolicies {
  const { fields: baseFields, ...baseValues } = base;
  const { fields: overFields, ...overValues } = over;
  return { ...baseValues, ...overValues, fields: { ...baseFields, ...overFields } };
}

/**
 * The method's limit on timeouts: an operation may ask for less than `methodTimeoutMs`, never
 * more; without it the method's timeout applies. Returns the timeout the operation runs with.
 */
export function effectiveTimeout(policies: CreatePolicies, methodTimeoutMs: number | undefined): number | undefined {
  if (policies.timeoutMs === undefined) return methodTimeoutMs;
  if (methodTimeoutMs !== undefined && policies.timeoutMs > methodTimeoutMs) {
    throw invalidArgument(policies.fields.timeoutMs ?? 'timeout', `must not exceed the method's timeout of ${methodTimeoutMs / 1000}s`);
  }
  return policies.timeoutMs;
}

function set<K extends keyof CreatePolicies['fields']>(policies: CreatePolicies, key: K, field: string, value: CreatePolicies[K]): void {
  (policies as unknown as Record<string, unknown>)[key] = value;
  policies.fields[key] = field;
}

function checkPolicies(policies: CreatePolicies): CreatePolicies {
  const { fields } = policies;
  if (policies.timeoutMs !== undefined && !(Number.isInteger(policies.timeoutMs) && policies.timeoutMs > 0 && policies.timeoutMs <= MAX_TIMEOUT_MS)) {
    throw invalidArgument(fields.timeoutMs!, `must be a positive duration of at most ${MAX_TIMEOUT_MS / 1000}s, whole milliseconds`);
  }
  if (policies.priority !== undefined) {
    const p = policies.priority;
    if (!(Number.isInteger(p) && p >= PRIORITY_RANGE.min && p <= PRIORITY_RANGE.max)) {
      throw invalidArgument(fields.priority!, `must be an integer within ${rangeText()}, got ${p}`);
    }
  }
  if (policies.concurrencyKey !== undefined) {
    const key = policies.concurrencyKey;
    if (key.length === 0 || key.length > MAX_CONCURRENCY_KEY_LENGTH || /[\u0000-\u001f\u007f]/.test(key)) {
      throw invalidArgument(fields.concurrencyKey!, `must be 1-${MAX_CONCURRENCY_KEY_LENGTH} characters without control characters`);
    }
  }
  if (policies.startTime !== undefined && policies.startDeadline !== undefined && policies.startDeadline <= policies.startTime) {
    throw invalidArgument(fields.startDeadline!, `must be after the start time (${fields.startTime}): the operation could never start`);
  }
  return policies;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function parseTimestamp(text: string, field: string): number {
  const trimmed = text.trim();
  const ms = RFC3339.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (!Number.isFinite(ms)) throw invalidArgument(field, `must be an RFC 3339 timestamp such as 2030-01-01T12:00:00Z, got ${quote(text)}`);
  return ms;
}

function timeOf(value: Date | string, field: string): number {
  if (typeof value === 'string') return parseTimestamp(value, field);
  const ms = value.getTime();
  if (!Number.isFinite(ms)) throw invalidArgument(field, 'must be a valid Date');
  return ms;
}

/** A protobuf JSON Duration (`30s`, `1.5s`, `0.250s`) in whole milliseconds. */
function parseDuration(text: string, field: string): number {
  const match = /^(\d{1,9})(?:\.(\d{1,9}))?s$/.exec(text.trim());
  if (match === null) throw invalidArgument(field, `must be a positive Duration such as "30s" or "1.5s", got ${quote(text)}`);
  const ms = Number(match[1]) * 1000 + Math.round(Number(`0.${match[2] ?? '0'}`) * 1000);
  if (ms <= 0) throw invalidArgument(field, `must be a positive Duration such as "30s", got ${quote(text)}`);
  return ms;
}

function rangeText(): string {
  return `${PRIORITY_RANGE.min}..${PRIORITY_RANGE.max}`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}
