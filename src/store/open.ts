/**
 * Chooses and opens the store from where it lives: a SQLite file for a path, PostgreSQL for a
 * postgres:// or postgresql:// URL. The one place that knows both backends by name.
 */
import { MIN_IDEMPOTENCY_KEY_LIFETIME_MS } from '../domain/operation.js';
import { DEFAULTS } from '../defaults.js';
import type { Logger } from '../log.js';
import { isPostgresUrl, PostgresOperationStore } from './postgres/store.js';
import { SqliteOperationStore, type SqliteSynchronous } from './sqlite/store.js';
import type { OperationStore, SubscriberErrorHandler } from './types.js';

export interface OpenStoreOptions {
  /** A SQLite database file, or a postgres:// / postgresql:// URL (default: DEFAULTS.databasePath). */
  databasePath?: string;
  /** How long finished operations stay readable (default: DEFAULTS.retentionMs). */
  retentionMs?: number;
  /** PostgreSQL schema of longrun's tables (default: longrun). */
  pgSchema?: string;
  /** PostgreSQL pool size (default: 10). */
  pgPoolSize?: number;
  /** PostgreSQL URL for the LISTEN connection when `databasePath` is a transaction-mode pooler (default: databasePath). */
  pgListenUrl?: string;
  /** PostgreSQL's polling backstop while LISTEN is down (default: DEFAULTS.pollMs). */
  pollMs?: number;
  /** SQLite synchronous mode (default: DEFAULTS.synchronous). */
  synchronous?: SqliteSynchronous;
  logger: Logger;
  /** Told each time PostgreSQL's LISTEN connection is back after a loss (the metrics count it). */
  onListenerReconnected?: () => void;
}

export async function openStore(options: OpenStoreOptions): Promise<OperationStore> {
  const { logger } = options;
  const database = options.databasePath ?? DEFAULTS.databasePath;
  const retention = { retentionMs: options.retentionMs ?? DEFAULTS.retentionMs, keyedRetentionMs: MIN_IDEMPOTENCY_KEY_LIFETIME_MS };
  const onSubscriberError: SubscriberErrorHandler = (error, change) => logger.error({ err: error, change: change.kind }, 'a store change-feed subscriber threw');
  if (!isPostgresUrl(database)) {
    return new SqliteOperationStore({ path: database, synchronous: options.synchronous ?? DEFAULTS.synchronous, ...retention, onSubscriberError });
  }
  return PostgresOperationStore.open({
    url: database,
    ...retention,
    ...(options.pgSchema !== undefined && { schema: options.pgSchema }),
    ...(options.pgPoolSize !== undefined && { poolSize: options.pgPoolSize }),
    ...(options.pgListenUrl !== undefined && { listenUrl: options.pgListenUrl }),
    pollMs: options.pollMs ?? DEFAULTS.pollMs,
    onSubscriberError,
    listenerEvents: {
      listenerLost: (error) => logger.warn({ err: error }, 'the PostgreSQL LISTEN connection was lost; reconnecting (waits fall back to polling)'),
      listenerReconnected: () => {
        options.onListenerReconnected?.();
        logger.info('the PostgreSQL LISTEN connection is back');
      },
    },
  });
}
