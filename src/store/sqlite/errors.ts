/** SQLite failures that mean "the disk, not the request, is the problem", as UNAVAILABLE. */
import { Code, LongrunError } from '../../domain/errors.js';

const UNAVAILABLE_CODES = ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN'];

export function storeError(error: unknown): unknown {
  if (error instanceof LongrunError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.some((prefix) => code.startsWith(prefix))) {
    return new LongrunError(Code.UNAVAILABLE, `the operation store cannot be written right now: ${storeTrouble(code)} (${code}); retry later`, 'STORE_UNAVAILABLE', {
      cause: error,
    });
  }
  return error;
}

/** What an operator should look at, in words, for each "the disk is the problem" code. */
function storeTrouble(code: string): string {
  if (code.startsWith('SQLITE_FULL')) return 'the disk is full';
  if (code.startsWith('SQLITE_READONLY')) return 'the database is read-only';
  if (code.startsWith('SQLITE_BUSY')) return 'another process holds the database lock';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'the database file cannot be opened';
  return 'the disk reported an I/O error';
}

/**
 * The database file cannot be used at all (a folder where the file should be, a path through a
 * file, no permission, a file that is not a SQLite database): one line naming the file and why.
 */
export function cannotOpen(path: string, error: unknown): LongrunError {
  const code = (error as { code?: unknown }).code;
  const why = error instanceof Error ? error.message : String(error);
  return new LongrunError(
    Code.FAILED_PRECONDITION,
    `cannot open the SQLite database ${path}: ${why}${typeof code === 'string' ? ` (${code})` : ''}; choose another with --db`,
    'STORE_CANNOT_OPEN',
    { cause: error, metadata: { path } },
  );
}
