/**
 * The connection pool of the PostgreSQL store. Every connection names itself in
 * `application_name` (`longrun` for the pool, `longrun-listen` for the listener) so an operator can
 * tell them apart in pg_stat_activity. BIGINT columns (epoch milliseconds) are parsed to numbers
 * for this pool only, never through pg's global type parsers an embedding app may rely on.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';

/**
 * pg, loaded on first use: the public API exports this store, so a SQLite-only process (every
 * `longrun serve` on a file, an app on SQLite) would otherwise spend ~60 ms of its start loading it.
 */
export function pgModule(): typeof pg {
  return (loaded ??= createRequire(import.meta.url)('pg') as typeof pg);
}
let loaded: typeof pg | undefined;

export const POOL_APPLICATION_NAME = 'longrun';
export const LISTEN_APPLICATION_NAME = 'longrun-listen';

const INT8_OID = 20;

/** Milliseconds since the epoch always fit a double; parse BIGINT to number. */
export const LONGRUN_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pgModule().types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PoolOptions {
  url: string;
  /** Connections in the pool (default: 10). */
  poolSize?: number;
  /** How long a query waits for a free connection before failing UNAVAILABLE (default: 5000 ms). */
  connectTimeoutMs?: number;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new (pgModule().Pool)({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: POOL_APPLICATION_NAME,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    types: LONGRUN_TYPES,
  });
  // An idle connection dropped by the server (a restart): the pool replaces it; nothing to crash over.
  pool.on('error', () => undefined);
  return pool;
}

/** `schema` as a quoted SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
