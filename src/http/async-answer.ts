/**
 * The headers of an asynchronous answer (`202 Accepted` to a creating call), computed in one place
 * so that every route giving one says the same thing:
 *
 * - `Location`: the operation (AIP-151's GetOperation);
 * - `Operation-Location`: its status monitor (the Microsoft REST guidelines, `@azure/core-lro`);
 * - `Azure-AsyncOperation`: its Azure Resource Manager status resource (ARM's clients follow this
 *   header first: the SDKs in ARM mode, Terraform's azurerm provider, `az rest`);
 * - `Retry-After` (whole seconds) and longrun's progress headers while it runs.
 *
 * Every URL is absolute (ARM's contract rejects partial URIs), built on the request's base URL.
 */
import { answerStyleOf, type AnswerStyle, type OperationRecord } from '../domain/operation.js';
import { progressHeaders } from '../protocol/headers.js';
import { retryAfterSeconds } from './monitor.js';

export const AZURE_ASYNC_OPERATION_HEADER = 'azure-asyncoperation';

/**
 * The collection the ARM status resources are served under: `/v1/operationStatuses/{operation name}`.
 * A prefix rather than a suffix, because ARM requires the resource's `name` (the operation id) to
 * be the last segment of its `id`; and one segment, so it never shadows an operation name (a parent
 * is made of collection/id pairs, so `operationStatuses/operations/x` is never a valid name).
 */
export const ARM_STATUS_COLLECTION = 'operationStatuses';

/** The paths of an operation's resources on the gateway (routes.ts serves them). */
export const operationPath = (name: string): string => `/v1/${name}`;
export const statusMonitorPath = (name: string): string => `/v1/${name}/status`;
export const armStatusPath = (name: string): string => `/v1/${ARM_STATUS_COLLECTION}/${name}`;

export interface AsyncAnswerHeaders extends Record<string, string> {
  location: string;
  'operation-location': string;
  'azure-asyncoperation': string;
  'retry-after': string;
}

/** `baseUrl` is the scheme and authority clients reached the server at, e.g. `http://127.0.0.1:8080`. */
export function asyncAnswerHeaders(baseUrl: string, record: OperationRecord, now: number, retryAfterCapMs: number): AsyncAnswerHeaders {
  return {
    ...linkHeaders(baseUrl, record),
    [AZURE_ASYNC_OPERATION_HEADER]: `${baseUrl}${armStatusPath(record.name)}`,
    'retry-after': String(retryAfterSeconds(record, now, retryAfterCapMs)),
    ...progressHeaders(record),
  };
}

/** What a Google-style answer keeps of the async one: where the operation and its monitor are. */
export function linkHeaders(baseUrl: string, record: OperationRecord): { location: string; 'operation-location': string } {
  return { location: `${baseUrl}${operationPath(record.name)}`, 'operation-location': `${baseUrl}${statusMonitorPath(record.name)}` };
}

/**
 * Progress while the operation runs, and Retry-After too in the async style; nothing once it is
 * done (a poller stops). Google's clients take a Retry-After on a 2xx answer for throttling and
 * resend the call, so operations answered in Google's style never get one.
 */
export function pollHeaders(record: OperationRecord, now: number, retryAfterCapMs: number, style: AnswerStyle = answerStyleOf(record)): Record<string, string> {
  if (record.done) return {};
  if (style === 'google') return progressHeaders(record);
  return { 'retry-after': String(retryAfterSeconds(record, now, retryAfterCapMs)), ...progressHeaders(record) };
}
