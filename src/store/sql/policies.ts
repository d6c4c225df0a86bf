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
 *   through index seeks, never by counting). Where the fair-share index holds finished rows too
 *   (SQLite: a completion then leaves it alone, about a quarter of a completion's cost), "last unfinished"
 *   is the principal's last operation if that one is unfinished; where its last one has finished
 *   before an earlier one started (one waiting for its key or its retry), the new one takes the head.
 * - Concurrency keys: a claim of a method allowing N operations of one key at once (`@keyLimit`,
 *   the method's `concurrencyPerKey`, 1 by default) gives each operation it takes a free slot
 *   0..N-1 of its key, written in `running_key`: slot 0 is the key itself (what every claim wrote
 *   before there were slots, so rows of an older version hold slot 0), slot s > 0 the key, U+001F
 *   and s (keys have no control characters). A unique index on `running_key` admits one leased row
 *   per slot, so at most N per key whatever process claims, and its range [key, key || ' ') holds
 *   exactly the key's slots, read by an index seek. A claim skips operations whose key has no slot
 *   free and takes at most as many of one key as it finds slots free; on PostgreSQL two claims
 *   racing for one slot (a statement's snapshot may predate the other's commit) make the loser's
 *   statement fail on the index, and it claims again. The slot is given back when the row is done,
 *   released, or waits for a retry; a lease that ran out keeps it until its row is claimed again
 *   (with the same slot) or aborted (its runner may still be running). Claims allowing different N
 *   for one key (methods sharing a key, or a limit changed while rows run) together run at most
 *   the largest N of that key.
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
  /** The character U+001F, between a concurrency key and its slot number (SQLite `char(31)`, PostgreSQL `chr(31)`). */
  unitSeparator: string;
  /**
   * Whether the fair-share index (owner, method, priority, fair_seq) holds finished rows too
   * (SQLite), or only unfinished ones (PostgreSQL, where a partial index spares every other write
   * an entry). See Fair share above.
   */
  fairIndexHoldsFinished: boolean;
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

/** The `running_key` of slot `slot` of `key` (see Concurrency keys above). */
function slotKey(options: PolicySqlOptions, key: string, slot: string): string {
  return `CASE WHEN ${slot} = 0 THEN ${key} ELSE ${key} || ${options.unitSeparator} || ${slot} END`;
}

/** `runningKey` is one of the slots of `key`: a range of the unique index (see Concurrency keys above). */
function inSlotsOf(runningKey: string, key: string): string {
  return `${runningKey} >= ${key} AND ${runningKey} < ${key} || ' '`;
}

/**
 * Whether a claim allowing `keyLimit` (an SQL expression) operations of `key` at once may take one
 * more, rows other than `name` considered: slot 0 is free, or (allowing more than one) fewer rows
 * than the limit hold slots of the key, counted in their range. Slot 0 is one seek of its own,
 * first: the only one most keys need, the whole check of a limit of one (the check before slots),
 * and what keeps PostgreSQL's planner costing the check as it did then (a range seek alone it
 * prices low enough to prefer reading and sorting a method's whole queue over walking the claim
 * index in order).
 */
function slotFree(options: PolicySqlOptions, key: string, name: string, keyLimit: string, from = ''): string {
  const held = (where: string) => `SELECT 1 FROM ${from}${options.table} r WHERE ${where} AND r.name <> ${name}`;
  const slot0 = `NOT EXISTS (${held(`r.running_key = ${key}`)})`;
  return keyLimit === '1' ? slot0 : `(${slot0} OR (SELECT count(*) FROM (${held(inSlotsOf('r.running_key', key))} LIMIT ${options.limit(keyLimit)}) held) < ${keyLimit})`;
}

/**
 * Operations of `@method` that a claim may take now (alias `o`), but for being due (each claim
 * index says that its own way), for a method allowing `keyLimit` operations of one key at once.
 */
export function claimable(options: PolicySqlOptions, method = '@method', keyLimit = '@keyLimit'): string {
  const { now, notDone } = options;
  // A row still holding a slot (its lease ran out) keeps it; any other needs a slot free.
  return `o.method = ${method} AND ${notDone('o')} AND o.lease_expires_at <= ${now} AND o.attempt < o.max_attempts
    AND (o.start_deadline IS NULL OR o.attempt > 0 OR o.start_deadline > ${now})
    AND (o.concurrency_key IS NULL OR ((o.running_key IS NOT NULL OR ${slotFree(options, 'o.concurrency_key', 'o.name', keyLimit)})${
      options.keyLock ? ` AND ${options.keyLock('o.concurrency_key')}` : ''
    }))`;
}

/**
 * What a claim of a method allowing one operation per key takes from `candidates` (see
 * withinKeyLimits): the first of each key, with slot 0 (the key) or the slot it holds. The same
 * choice as withinKeyLimits with @keyLimit 1, in a statement PostgreSQL parses and plans in about
 * two thirds of the time (the default, kept as fast as before slots).
 */
export function onePerKey(options: PolicySqlOptions, candidates: string): string {
  return `SELECT name, COALESCE(running_key, concurrency_key) AS running_key FROM (
      SELECT name, concurrency_key, running_key, priority, fair_seq, create_time,
        row_number() OVER (PARTITION BY concurrency_key ORDER BY ${CLAIM_ORDER}) AS k
      FROM ${candidates} c) ranked
    WHERE concurrency_key IS NULL OR k = 1
    ORDER BY ${CLAIM_ORDER} LIMIT ${options.limit('@limit')}`;
}

/**
 * What a claim takes from `candidates` when none of the method's unfinished operations has a
 * concurrency key (anyKeyed, read in the same write transaction, where one writer at a time keeps
 * it true: SQLite): the first @limit in claim order, neither numbered nor sorted by key (onePerKey
 * sorts the candidates by key, numbers them and sorts them back: about a sixth of a claim's cost).
 */
export function keyless(options: PolicySqlOptions, candidates: string): string {
  return `SELECT name FROM ${candidates} c ORDER BY ${CLAIM_ORDER} LIMIT ${options.limit('@limit')}`;
}

/**
 * What a claim of a method allowing @keyLimit operations of one key at once takes from
 * `candidates` (rows with name, concurrency_key, running_key, priority,
 * fair_seq, create_time), in claim order up to @limit, with the `running_key` each is to hold:
 * every keyless one; one holding a slot, with it; of each key, the first ones in claim order, each
 * with the next slot no row holds, while slots below @keyLimit are free. A key's slots are looked
 * up by index seeks: one range to count those held, one equality per slot tried (at most held +
 * wanted of them).
 */
export function withinKeyLimits(options: PolicySqlOptions, candidates: string): string {
  const { table } = options;
  return `WITH RECURSIVE c AS (
      SELECT name, concurrency_key, running_key, priority, fair_seq, create_time,
        CASE WHEN concurrency_key IS NULL OR running_key IS NOT NULL THEN 0
          ELSE row_number() OVER (PARTITION BY concurrency_key, running_key IS NULL ORDER BY ${CLAIM_ORDER}) END AS k
      FROM ${candidates} x),
    keys AS (
      SELECT concurrency_key AS key, max(k) AS wanted,
        (SELECT count(*) FROM ${table} h WHERE ${inSlotsOf('h.running_key', 'c.concurrency_key')}) AS held
      FROM c WHERE k > 0 GROUP BY concurrency_key),
    slots(n) AS (
      SELECT 0 UNION ALL
      SELECT n + 1 FROM slots WHERE n + 1 < @keyLimit AND n + 1 < (SELECT max(held + wanted) FROM keys)),
    free AS (
      SELECT keys.key, s.n, row_number() OVER (PARTITION BY keys.key ORDER BY s.n) AS k
      FROM keys JOIN slots s ON s.n < keys.held + keys.wanted
      -- A count, not NOT EXISTS: PostgreSQL would make that an anti-join reading every running row.
      WHERE (SELECT count(*) FROM ${table} h WHERE h.running_key = ${slotKey(options, 'keys.key', 's.n')}) = 0)
    SELECT c.name, COALESCE(c.running_key, ${slotKey(options, 'c.concurrency_key', 'f.n')}) AS running_key
    FROM c LEFT JOIN free f ON f.key = c.concurrency_key AND f.k = c.k
    WHERE c.k = 0 OR f.n IS NOT NULL
    ORDER BY ${CLAIM_ORDER} LIMIT ${options.limit('@limit')}`;
}

/**
 * How many candidates a claim reads for `limit` operations: where some of the method's unfinished
 * operations have a concurrency key (`keyed`, see anyKeyed), more than `limit`, so that a batch
 * whose first candidates share a key still fills from the ones after them; otherwise `limit`,
 * as every candidate is taken (reading four times as many, to sort and number them by key, made
 * a keyless claim on SQLite a third dearer per operation).
 */
export function claimScan(limit: number, keyed = true): number {
  return keyed ? Math.min(limit * CLAIM_SCAN_FACTOR, MAX_CLAIM_SCAN) : limit;
}

/**
 * Whether any unfinished operation of `@method` has a concurrency key (`keyed` 1 or 0): one seek
 * of an index that holds only those (SQLite's operations_keyed), so keyless work never pays for it.
 */
export function anyKeyed(options: PolicySqlOptions): string {
  return `SELECT EXISTS (SELECT 1 FROM ${options.table} k WHERE k.method = @method AND ${options.notDone('k')} AND k.concurrency_key IS NOT NULL) AS keyed`;
}
const CLAIM_SCAN_FACTOR = 4;
const MAX_CLAIM_SCAN = 1000;

/**
 * The candidate rows of a claim from one of its two indexes (see Due above): `ready`, those that
 * never had a start or retry time, in claim order; `scheduled`, those whose time has come, oldest
 * time first. PostgreSQL adds its lock clause.
 */
export function claimCandidates(options: PolicySqlOptions, branch: 'ready' | 'scheduled', keyLimit: '1' | '@keyLimit', lockClause = ''): string {
  const [index, condition, order] =
    branch === 'ready'
      ? ['operations_claim', 'o.run_after = 0', CLAIM_ORDER]
      : // The clock read once (a sub-select), so the index seek stops at now (PostgreSQL's clock_timestamp() is volatile).
        ['operations_scheduled', `o.run_after > 0 AND o.run_after <= (SELECT ${options.now})`, 'o.run_after'];
  return `SELECT o.name, o.concurrency_key, o.running_key, o.priority, o.fair_seq, o.create_time
    FROM ${options.table} o ${options.indexHint(index)}
    WHERE ${condition} AND ${claimable(options, '@method', keyLimit)}
    ORDER BY ${order} LIMIT ${options.limit('@scan')} ${lockClause}`;
}

/**
 * The fair-share position of a new operation (see above), from parameters @owner, @method and
 * @priority: one past the principal's last unfinished one, never before the queue's head.
 */
export function fairSeq(options: PolicySqlOptions, owner = '@owner', method = '@method', priority = '@priority'): string {
  const { table, notDone, greatest } = options;
  const principal = `f.owner = ${owner} AND f.method = ${method} AND f.priority = ${priority}`;
  const tail = options.fairIndexHoldsFinished
    ? `SELECT CASE WHEN ${notDone('f')} THEN f.fair_seq + 1 END FROM ${table} f WHERE ${principal} ORDER BY f.fair_seq DESC LIMIT 1`
    : `SELECT max(f.fair_seq) + 1 FROM ${table} f WHERE ${principal} AND ${notDone('f')}`;
  return `${greatest}(
      COALESCE((${tail}), 0),
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
 * claim path): `key_held`, whether other rows hold all @keyLimit slots of its concurrency key (no
 * claim of a method allowing that many takes it until one of them ends), and `ahead`, how many operations a claim could take now come before it in claim
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
  return `WITH t AS (SELECT name, method, concurrency_key, running_key, priority, fair_seq, create_time FROM ${table} WHERE name = @name)
    SELECT
      (t.running_key IS NULL AND NOT (${slotFree(options, 't.concurrency_key', 't.name', '@keyLimit', 't, ')})) AS key_held,
      ${ready('o.priority > t.priority')}
      + ${ready('o.priority = t.priority AND o.fair_seq < t.fair_seq')}
      + ${ready('o.priority = t.priority AND o.fair_seq = t.fair_seq AND o.create_time < t.create_time')}
      + ${ahead('operations_scheduled', `o.run_after > 0 AND o.run_after <= (SELECT ${now}) AND ${before}`)} AS ahead
    FROM t`;
}
