/**
 * PostgreSQL failures that mean "the database, not the request, is the problem" become
 * UNAVAILABLE with a message that says which; anything else is left for the generic INTERNAL path.
 */
import { Code, LongrunError } from '../../domain/errors.js';

/** SQLSTATE classes and codes of a database that is down, starting, stopping or full of connections. */
const UNAVAILABLE_STATES: [RegExp, string][] = [
  [/^08/, 'the connection to PostgreSQL failed'],
  [/^57P0[1-3]$/, 'PostgreSQL is restarting or shutting down'],
  [/^25006$/, 'PostgreSQL is read-only (a standby, or a primary after a failover)'],
  [/^57014$/, 'a statement ran past its timeout (statement_timeout), the database being slow or locked'],
  [/^53300$/, 'PostgreSQL has no connection slots left (max_connections)'],
  [/^53/, 'PostgreSQL is out of resources'],
  [/^40001$|^40P01$/, 'the write conflicted with another; retry'],
];

const UNAVAILABLE_SYSTEM_CODES: Record<string, string> = {
  ECONNREFUSED: 'PostgreSQL refused the connection (is it running?)',
  ECONNRESET: 'the connection to PostgreSQL was reset',
  ETIMEDOUT: 'the connection to PostgreSQL timed out',
  EPIPE: 'the connection to PostgreSQL broke',
  ENOTFOUND: 'the PostgreSQL host name does not resolve',
  EHOSTUNREACH: 'the PostgreSQL host is unreachable',
};

export function storeError(error: unknown): unknown {
  if (error instanceof LongrunError) return error;
  const trouble = troubleOf(error);
  if (trouble === undefined) return error;
  return new LongrunError(Code.UNAVAILABLE, `the operation store cannot be reached right now: ${trouble}; retry later`, 'STORE_UNAVAILABLE', {
    cause: error,
  });
}

function troubleOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_SYSTEM_CODES[code] !== undefined) return UNAVAILABLE_SYSTEM_CODES[code];
    for (const [pattern, words] of UNAVAILABLE_STATES) if (pattern.test(code)) return words;
  }
  const message = error instanceof Error ? error.message : '';
  if (/timeout exceeded when trying to connect/i.test(message)) return 'every pooled connection is busy (pool exhausted; see --pg-pool)';
  if (/Connection terminated|connection.*(closed|ended)|Client was closed|not queryable/i.test(message)) {
    return 'the connection to PostgreSQL was lost';
  }
  return undefined;
}
