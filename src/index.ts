/**
 * longrun's public library API. Everything an embedding app needs is exported here by name.
 */
export { createLongrun, BUNDLED_PROTO_FILES, type LongrunOptions } from './app.js';
export {
  Longrun,
  type CallOptions,
  type CreateOptions,
  type ListPage,
  type ListRequest,
  type InProcessWaitOptions,
  type InProcessWatchOptions,
} from './longrun.js';
export { methodRef, type MethodRef } from './methods/ref.js';
export { addBulkOperations, CANCEL_OPERATIONS_METHOD, MAX_BULK_OPERATIONS, RERUN_OPERATIONS_METHOD } from './bulk/bulk-operations.js';
export { Code, LongrunError, ERROR_DOMAIN, ERROR_REASONS, invalidArgument, type ErrorReason } from './domain/errors.js';
export type { AnswerStyle, AnyMessage, OperationError, OperationRecord, OperationState } from './domain/operation.js';
export { MAX_CONCURRENCY_PER_KEY, stateOf } from './domain/operation.js';
export type { Clock } from './domain/clock.js';
export type { Handler, MethodOptions, OperationContext, ProgressChange } from './methods/method.js';
export type { Caller } from './operations/service.js';
export type { AddToServerOptions, ListenOptions, ServedLongrun, TlsOptions } from './grpc/server.js';
export { Authenticator, type AuthOptions, type PresentedCredentials } from './auth/authenticator.js';
export { TokenTable, hashToken } from './auth/tokens.js';
export { createServer, listen, shutdown } from './grpc/server.js';
export { CALLBACK_URL_HEADER, IDEMPOTENCY_KEY_HEADER } from './protocol/headers.js';
export {
  CONCURRENCY_KEY_HEADER,
  policyHeaders,
  PRIORITY_HEADER,
  PRIORITY_RANGE,
  START_DEADLINE_HEADER,
  START_TIME_HEADER,
  TIMEOUT_HEADER,
  type PolicyOptions,
} from './operations/create-options.js';
export { DEFAULT_RETRY_POLICY, DEFAULT_RETRYABLE_CODES, type RetryPolicy } from './methods/retry-policy.js';
export { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from './callbacks/schedule.js';
export type { CallbackOptions } from './callbacks/settings.js';
export type { HttpFront, HttpServeOptions } from './http/front.js';
export type { Gateway, GatewayOptions, RequestHandler } from './http/gateway.js';
export type { HttpListenOptions, HttpServer, HttpTlsOptions } from './http/server.js';
export { OperationsClient, type OperationsClientOptions } from './grpc/client.js';
export {
  createClient,
  DEFAULT_BACKOFF,
  LongrunClient,
  type BackoffOptions,
  type ClientOperation,
  type ClientOptions,
  type ListOptions,
  type OperationStatus,
  type WaitOptions,
} from './grpc/typed-client.js';
export { Metrics } from './observe/metrics.js';
export type { MetricsServer } from './observe/metrics-server.js';
export { TYPE_URL_PREFIX, type GeneratedMessage, type GeneratedMessageClass, type MessageValue } from './protos/registry.js';
export { SqliteOperationStore, type SqliteStoreOptions, type SqliteSynchronous } from './store/sqlite/store.js';
export { PostgresOperationStore, type PostgresStoreOptions } from './store/postgres/store.js';
export type { ChangeFeed, ChangeListener, DeliveryRecord, DeliveryState, OperationCounts, OperationStore, StoreChange } from './store/types.js';
export { createLogger, type Logger, type LogFormat, type LogLevel } from './log.js';
