/**
 * The defaults of the embedding API's options (`LongrunOptions`), in one place: the composition
 * root, the store opener and the CLI read them here, so a default is never written twice. The
 * standalone server's flags (config.ts) say the same values in their own words for the docs.
 * Imports nothing: every layer may read it.
 */

const SECOND_MS = 1000;
const DAY_MS = 86_400_000;

export const DEFAULTS = {
  /** The store when none is named: a SQLite file beside the working directory. */
  databasePath: './data/longrun.db',
  /** SQLite's synchronous mode: NORMAL is durable in WAL mode except across a power loss. */
  synchronous: 'NORMAL',
  /** How long finished operations stay readable. */
  retentionMs: 30 * DAY_MS,
  /** Cap on WaitOperation. */
  waitCapMs: 60 * SECOND_MS,
  /** Runner lease; heartbeats every third of it. */
  leaseMs: 30 * SECOND_MS,
  /** How often the runner, the deliverer and a PostgreSQL store without LISTEN look for work. */
  pollMs: SECOND_MS,
  /** Retention sweep interval. */
  sweepIntervalMs: 60 * SECOND_MS,
  /** Owner of operations created without authentication. */
  principal: 'default',
} as const;
