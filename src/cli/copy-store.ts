/** `longrun copy-store --from FILE --to URL`: moves a SQLite store into PostgreSQL (see src/store/copy.ts). */
import { parseArgs } from 'node:util';
import { copySqliteToPostgres } from '../store/copy.js';
import { isPostgresUrl } from '../store/postgres/store.js';
import { redactUrl } from './serve.js';
import { Exit, UsageError } from './usage.js';

export async function copyStoreCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { from: { type: 'string' }, to: { type: 'string' }, 'pg-schema': { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.from === undefined || values.from === '') throw new UsageError('--from FILE (the SQLite database) is missing');
  if (values.to === undefined || !isPostgresUrl(values.to)) throw new UsageError('--to must be a postgres:// or postgresql:// URL');
  const result = await copySqliteToPostgres({
    from: values.from,
    to: values.to,
    ...(values['pg-schema'] !== undefined && { schema: values['pg-schema'] }),
  });
  process.stdout.write(
    `copied ${result.copied} of ${result.total} operations (${result.keyed} with idempotency keys) from ${values.from} to ${redactUrl(values.to)}\n`,
  );
  return Exit.OK;
}
