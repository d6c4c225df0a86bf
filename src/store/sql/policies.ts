/**
 * The scheduling decisions both SQL backends make, written once: which operations a claim may
 * take and in what order, where a new operation goes in its method's queue (fair share), and
 * what ends a not-yet-started operation at its start deadline.
 *
 * - Due: `run_after` (a start time, or the time a retry is due) has passed by the store clock.
 *   Operations that never had one (`run_after` 0) and those that did are claimed through two
 *   indexes: a claim seeks the first in claim order and the second in `run_after` order up to now,
 *   and merges the two. One index over both would make a claim walk every operation whose time has
 *   not come (900,000 of a queue of 1,000,000 in `npm run bench -- claims`) before giving up.
 *   Where more scheduled operations fall due at once than a claim reads, they are taken in the
 *   order their times came, each merged by priority with the rest.
 * - Order: `priority` (higher first), then `fair_seq`, then `create_time`.
 * - Fair share: `fair_seq` is a per-principal position. A new operation goes one past its
 *   principal's last unfinished one of the same method and priority, but never before the head of
 *   that queue: so a principal with 100,000 operations queued holds positions head..head+100,000,
 *   and another principal's one new operation takes position `head`, next in line. Principals with
 *   work queued take turns, whatever their backlog (a start-time fair queue; the tags are read
 *   through index seeks, never by counting).
 * - Concurrency keys: a claimed operation sets `running_key` to its `concurrency_key`; a unique
 *   index on `running_key` admits one leased operation per key, whatever process claims it. A claim
 *   skips operations whose key another row holds and takes at most one per key; on PostgreSQL two
 *   claims racing for one key make the loser's statement fail on the index, and it claims again.
 *   The key is given back when the row is done, released, or waits for a retry; a lease that ran
 *   out keeps it until its row is claimed again or aborted (its runner may still be running).
 */

export interface PolicySqlOptions {
  /** The table, qualified as the backend needs. */
  table: string;
  /** The store clock in epoch ms (a parameter on SQLite, the database clock on PostgreSQL). */
  now: string;
  /** Unfinished rows of `alias`, as the backend's partial indexes spell it. */
  notDone(alias: string): string;
  /** Two-argument maximum (SQLite `MAX`, PostgreSQL `GREATEST`). */
  greatest: string;
  /** Index pinning for the claim scans ('' where the planner needs no telling). */
  indexHint(index: string): string;
  /** A LIMIT of a parameter, as the dialect writes it (SqlDialect.limit). */
  limit(param: string): string;
  /**
   * A condition that holds when this claim may take `key` now, without waiting ('' where one
   * writer at a time makes it moot). On PostgreSQL a try-lock held to the claim's commit, so two
   * concurrent claims never both pick rows of one key: they would otherwise wait on each other's
   * unique-index entries, and two keys taken in opposite orders deadlock.
   */
  keyLock?(key: string): string;
}

export const CLAIM_ORDER = 'priority DESC, fair_seq, create_time';

/** Operations of `@method` that a claim may take now (alias `o`), but for being due (each claim index says that its own way). */
export function claimable(options: PolicySqlOptions, method = '@method'): string {
  const { table, now, notDone } = options;
  return `o.method = ${method} AND ${notDone('o')} AND o.lease_expires_at <= ${now} AND o.attempt < o.max_attempts
    AND (o.start_deadline IS NULL OR o.attempt > 0 OR o.start_deadline > ${now})
    AND (o.concurrency_key IS NULL OR (NOT EXISTS (
      SELECT 1 FROM ${table} r WHERE r.running_key = o.concurrency_key AND r.name <> o.name)${
        options.keyLock ? ` AND ${options.keyLock('o.concurrency_key')}` : ''
      }))`;
}

/**
 * The names a claim takes, from `candidates` (rows with name, concurrency_key, priority, fair_seq,
 * create_time): the first of each key, every keyless one.
 */
export function onePerKey(options: PolicySqlOptions, candidates: string): string {
  return `SELECT name FROM (
      SELECT name, concurrency_key, priority, fair_seq, create_time,
        row_number() OVER (PARTITION BY concurrency_key ORDER BY ${CLAIM_ORDER}) AS k
      FROM ${candidates} c) ranked
    WHERE concurrency_key IS NULL OR k = 1
    ORDER BY ${CLAIM_ORDER} LIMIT ${options.limit('@limit')}`;
}

/**
 * How many candidates a claim reads for `limit` operations: more than `limit`, so that a batch
 * whose first candidates share a key still fills from the ones after them.
 */
export function claimScan(limit: number): number {
  return Math.min(limit * CLAIM_SCAN_FACTOR, MAX_CLAIM_SCAN);
}
const CLAIM_SCAN_FACTOR = 4;
const MAX_CLAIM_SCAN = 1000;

/**
 * The candidate rows of a claim from one of its two indexes (see Due above): `ready`, those that
 * never had a start or retry time, in claim order; `scheduled`, those whose time has come, oldest
 * time first. PostgreSQL adds its lock clause.
 */
export function claimCandidates(options: PolicySqlOptions, branch: 'ready' | 'scheduled', lockClause = ''): string {
  const [index, condition, order] =
    branch === 'ready'
      ? ['operations_claim', 'o.run_after = 0', CLAIM_ORDER]
      : // The clock read once (a sub-select), so the index seek stops at now (PostgreSQL's clock_timestamp() is volatile).
        ['operations_scheduled', `o.run_after > 0 AND o.run_after <= (SELECT ${options.now})`, 'o.run_after'];
  return `SELECT o.name, o.concurrency_key, o.priority, o.fair_seq, o.create_time
    FROM ${options.table} o ${options.indexHint(index)}
    WHERE ${condition} AND ${claimable(options)}
    ORDER BY ${order} LIMIT ${options.limit('@scan')} ${lockClause}`;
}

/**
 * The fair-share position of a new operation (see above), from parameters @owner, @method and
 * @priority: one past the principal's last unfinished one, never before the queue's head.
 */
export function fairSeq(options: PolicySqlOptions, owner = '@owner', method = '@method', priority = '@priority'): string {
  const { table, notDone, greatest } = options;
  return `${greatest}(
      COALESCE((SELECT max(f.fair_seq) + 1 FROM ${table} f
        WHERE f.owner = ${owner} AND f.method = ${method} AND f.priority = ${priority} AND ${notDone('f')}), 0),
      COALESCE((SELECT h.fair_seq FROM ${table} h
        WHERE h.method = ${method} AND h.priority = ${priority} AND ${notDone('h')} AND h.run_after = 0 ORDER BY h.fair_seq LIMIT 1), 0))`;
}

/** Unstarted operations past their start deadline (by the store clock), oldest deadline first. */
export function pastStartDeadline(options: PolicySqlOptions): string {
  const { table, now, notDone } = options;
  return `SELECT s.name FROM ${table} s
    WHERE ${notDone('s')} AND s.start_deadline IS NOT NULL AND s.start_deadline <= ${now} AND s.attempt = 0
      AND s.lease_holder IS NULL
    ORDER BY s.start_deadline LIMIT ${options.limit('@limit')}`;
}

/**
 * Where the unfinished operation `@name` stands in its method's queue, for clients (never on the
 * claim path): `key_held`, whether another row holds its concurrency key (no claim takes it until
 * that one ends), and `ahead`, how many operations a claim could take now come before it in claim
 * order. `ahead` adds four counts that each stop at `@limit` (so the sum may pass it; the caller
 * caps it), each an index range: higher priority, same priority and earlier fair-share position,
 * same position and older (three seeks into the ready index), and due scheduled ones (a walk of the
 * method's due scheduled operations, which claims keep short). The claim merges its two indexes
 * by priority as it reads them, so for scheduled operations this order is the rule, not the letter.
 */
export function queuePlace(options: PolicySqlOptions): string {
  const { table, now, indexHint } = options;
  const plain = { ...options, keyLock: undefined };
  const ahead = (index: string, condition: string) => `(SELECT count(*) FROM (
      SELECT 1 FROM t, ${table} o ${indexHint(index)}
      WHERE ${condition} AND o.name <> t.name AND ${claimable(plain, 't.method')} LIMIT ${options.limit('@limit')}) a)`;
  const ready = (condition: string) => ahead('operations_claim', `o.run_after = 0 AND ${condition}`);
  const before = `(o.priority > t.priority OR (o.priority = t.priority AND (o.fair_seq < t.fair_seq
      OR (o.fair_seq = t.fair_seq AND o.create_time < t.create_time))))`;
  return `WITH t AS (SELECT name, method, concurrency_key, priority, fair_seq, create_time FROM ${table} WHERE name = @name)
    SELECT
      EXISTS (SELECT 1 FROM t, ${table} r WHERE r.running_key = t.concurrency_key AND r.name <> t.name) AS key_held,
      ${ready('o.priority > t.priority')}
      + ${ready('o.priority = t.priority AND o.fair_seq < t.fair_seq')}
      + ${ready('o.priority = t.priority AND o.fair_seq = t.fair_seq AND o.create_time < t.create_time')}
      + ${ahead('operations_scheduled', `o.run_after > 0 AND o.run_after <= (SELECT ${now}) AND ${before}`)} AS ahead
    FROM t`;
}
