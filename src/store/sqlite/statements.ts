/**
 * Every SQL statement of the SQLite store, prepared once. Each write carries its own guard in its
 * WHERE clause or conflict target (see the contract in ../types.ts), so it is correct however many
 * processes share the file, not only because SQLite admits one writer at a time.
 */
import type Database from 'better-sqlite3';
import { SQLITE_DIALECT } from '../sql/dialect.js';
import { anyKeyed, claimCandidates, fairSeq, keyless, onePerKey, pastStartDeadline, queuePlace, withinKeyLimits, type PolicySqlOptions } from '../sql/policies.js';
import { READ_COLUMNS } from '../sql/rows.js';

const doneFields = `done = 1, lease_holder = NULL, lease_expires_at = 0, running_key = NULL, update_time = @now, done_time = @now,
  expire_time = @now + CASE WHEN idempotency_key IS NULL THEN @retention ELSE MAX(@retention, @keyedRetention) END`;
const fenced = 'name = @name AND lease_holder = @holder AND attempt = @attempt AND done = 0';
const errorFields = 'error_code = @errorCode, error_message = @errorMessage, error_details = @errorDetails';
const keepMetadata = 'metadata_type = COALESCE(@metadataType, metadata_type), metadata_value = COALESCE(@metadataValue, metadata_value)';

const hint = SQLITE_DIALECT.indexHint;

const POLICY: PolicySqlOptions = {
  table: 'operations',
  now: '@now',
  notDone: (alias) => `${alias}.done = 0`,
  greatest: 'MAX',
  fairIndexHoldsFinished: true,
  unitSeparator: 'char(31)',
  indexHint: hint,
  limit: SQLITE_DIALECT.limit,
};
/** LIMIT @limit, planned once (see SqlDialect.limit). */
const LIMIT = `LIMIT ${SQLITE_DIALECT.limit('@limit')}`;

/** The claim statement for `keys`: a method's work without keys, keyed work one per key, or more per key. */
function claimStatement(keys: 'keyless' | '1' | '@keyLimit'): string {
  const keyLimit = keys === 'keyless' ? '1' : keys;
  const candidates = `(SELECT * FROM (${claimCandidates(POLICY, 'ready', keyLimit)}) UNION ALL SELECT * FROM (${claimCandidates(POLICY, 'scheduled', keyLimit)}))`;
  const chosen = keys === 'keyless' ? keyless(POLICY, candidates) : keys === '1' ? onePerKey(POLICY, candidates) : withinKeyLimits(POLICY, candidates);
  // Keyless rows hold no slot: leaving running_key out of the SET leaves its index alone.
  return `UPDATE operations
    SET lease_holder = @holder, lease_expires_at = @now + @leaseMs, attempt = attempt + 1, update_time = @now${keys === 'keyless' ? '' : `,
      running_key = chosen.running_key`}
    FROM (${chosen}) AS chosen
    WHERE operations.name = chosen.name
    RETURNING *`;
}

/** What every new operation sets: column, value. */
const NEW_COLUMNS: readonly (readonly [string, string])[] = [
  ['name', '@name'], ['parent', '@parent'], ['method', '@method'], ['owner', '@owner'],
  ['metadata_type', '@metadataType'], ['metadata_value', '@metadataValue'], ['request_type', '@requestType'], ['request_value', '@requestValue'],
  ['idempotency_key', '@key'], ['request_fingerprint', '@fingerprint'], ['max_attempts', '@maxAttempts'],
  ['create_time', '@now'], ['update_time', '@now'], ['callbacks', '@callbacks'], ['answer_style', '@answerStyle'],
];
/** What only an operation with policies (or a trace, a re-run link) sets; the defaults are 0 and NULL. */
const POLICY_COLUMNS: readonly (readonly [string, string])[] = [
  ['run_after', '@runAfter'], ['priority', '@priority'], ['concurrency_key', '@concurrencyKey'],
  ['timeout_ms', '@timeoutMs'], ['start_deadline', '@startDeadline'], ['trace_context', '@traceContext'], ['rerun_of', '@rerunOf'],
];

/**
 * The INSERT of a new operation, at its fair-share place. Without `withPolicies`, for the common
 * operation that sets none of POLICY_COLUMNS: seven parameters fewer to bind (about a fifth of a
 * creation's cost in the store).
 */
function insertStatement(withPolicies: boolean): string {
  const columns = [...NEW_COLUMNS, ...(withPolicies ? POLICY_COLUMNS : []), ['fair_seq', fairSeq(POLICY, '@owner', '@method', withPolicies ? '@priority' : '0')] as const];
  return `INSERT INTO operations (${columns.map(([column]) => column).join(', ')})
    VALUES (${columns.map(([, value]) => value).join(', ')})
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`;
}

const SQL = {
  get: `SELECT ${READ_COLUMNS} FROM operations WHERE name = @name`,
  getRequest: 'SELECT request_type, request_value, expire_time FROM operations WHERE name = @name',
  dataVersion: 'PRAGMA data_version',
  byKey: `SELECT ${READ_COLUMNS} FROM operations WHERE owner = @owner AND idempotency_key = @key`,
  // The unique (owner, idempotency_key) index decides between two creators with one key.
  insert: insertStatement(true),
  insertPlain: insertStatement(false),
  deleteExpiredKeyHolder: `DELETE FROM operations
    WHERE owner = @owner AND idempotency_key = @key AND expire_time IS NOT NULL AND expire_time <= @now`,
  cancelPending: `UPDATE operations SET ${doneFields}, ${errorFields}
    WHERE name = @name AND done = 0 AND (lease_holder IS NULL OR lease_expires_at <= @now) RETURNING ${READ_COLUMNS}`,
  flagCancel: `UPDATE operations SET cancel_requested = 1, update_time = @now
    WHERE name = @name AND done = 0 RETURNING ${READ_COLUMNS}`,
  deleteDone: 'DELETE FROM operations WHERE name = @name AND done = 1 AND expire_time > @now',
  // One statement: the candidates in claim order, each key's within its limit, with their slots
  // (../sql/policies.ts); the default of one per key has a statement of its own, and so has a
  // method with no keyed work (SqliteOperationStore.claim asks anyKeyed first).
  claim: claimStatement('1'),
  claimSlots: claimStatement('@keyLimit'),
  claimKeyless: claimStatement('keyless'),
  anyKeyed: anyKeyed(POLICY),
  // A failed attempt that will be retried: the lease and the key are given back, due again after the backoff.
  retry: `UPDATE operations SET lease_holder = NULL, lease_expires_at = 0, running_key = NULL, run_after = @now + @delayMs,
      progress_percent = 0, estimated_completion = NULL,
      last_error_code = @errorCode, last_error_message = @errorMessage, update_time = @now
    WHERE ${fenced} AND attempt < max_attempts
    RETURNING method`,
  pastStartDeadline: pastStartDeadline(POLICY),
  queuePlace: queuePlace(POLICY),
  expireStartDeadline: `UPDATE operations SET ${doneFields}, ${errorFields}
    WHERE name = @name AND done = 0 AND start_deadline IS NOT NULL AND start_deadline <= @now AND attempt = 0
      AND lease_holder IS NULL
    RETURNING ${READ_COLUMNS}`,
  exhausted: `SELECT name, attempt FROM operations ${hint('operations_lease')}
    WHERE done = 0 AND lease_expires_at > 0 AND lease_expires_at <= @now AND attempt >= max_attempts`,
  abortExhausted: `UPDATE operations SET ${doneFields}, ${errorFields}
    WHERE name = @name AND attempt = @attempt AND done = 0 AND lease_expires_at > 0 AND lease_expires_at <= @now
      AND attempt >= max_attempts
    RETURNING ${READ_COLUMNS}`,
  heartbeat: `UPDATE operations SET lease_expires_at = @now + @leaseMs WHERE ${fenced}
    RETURNING cancel_requested`,
  progress: `UPDATE operations SET
      progress_percent = COALESCE(@percent, progress_percent),
      estimated_completion = COALESCE(@eta, estimated_completion),
      ${keepMetadata},
      update_time = @now
    WHERE ${fenced}`,
  completeResponse: `UPDATE operations SET ${doneFields},
      response_type = @responseType, response_value = @responseValue, progress_percent = 100, ${keepMetadata}
    WHERE ${fenced}`,
  completeError: `UPDATE operations SET ${doneFields}, ${errorFields}, ${keepMetadata} WHERE ${fenced}`,
  release: `UPDATE operations SET lease_holder = NULL, lease_expires_at = 0, running_key = NULL, attempt = attempt - 1
    WHERE ${fenced} RETURNING method`,
  sweep: `DELETE FROM operations WHERE name IN (
      SELECT name FROM operations WHERE expire_time IS NOT NULL AND expire_time <= @now ${LIMIT})`,
  // Unfinished rows through the two claim indexes (done = 0, without and with a start or retry
  // time); done ones counted in the expiry index (every done row has an expire_time), so none walks the table.
  countUnfinished: `SELECT SUM(pending) AS pending, SUM(running) AS running FROM (
      SELECT SUM(lease_expires_at <= @now) AS pending, SUM(lease_expires_at > @now) AS running
        FROM operations ${hint('operations_claim')} WHERE done = 0 AND run_after = 0
      UNION ALL
      SELECT SUM(lease_expires_at <= @now), SUM(lease_expires_at > @now)
        FROM operations ${hint('operations_scheduled')} WHERE done = 0 AND run_after > 0)`,
  countDone: `SELECT COUNT(*) FROM operations ${hint('operations_expiry')}
    WHERE expire_time IS NOT NULL AND expire_time > @now`,
  insertMeta: 'INSERT INTO meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING',
  getMeta: 'SELECT value FROM meta WHERE key = @key',
  // The outbox (migration 0004; the trigger there writes deliveries).
  claimDeliveries: `UPDATE deliveries
    SET lease_holder = @holder, lease_expires_at = @now + @leaseMs, claim = claim + 1
    WHERE id IN (
      SELECT id FROM deliveries ${hint('deliveries_due')}
      WHERE state = 'pending' AND next_attempt_at <= @now AND lease_expires_at <= @now
        AND url NOT IN (SELECT value FROM json_each(@skipUrls))
      ORDER BY next_attempt_at ${LIMIT})
    RETURNING *`,
  finishAttempt: `UPDATE deliveries SET state = @state, attempts = attempts + 1, next_attempt_at = @nextAttemptAt,
      last_status = @lastStatus, last_error = @lastError, delivered_time = @deliveredTime, state_time = @now,
      lease_holder = NULL, lease_expires_at = 0
    WHERE id = @id AND lease_holder = @holder AND claim = @claim AND state = 'pending'
    RETURNING url`,
  markGone: 'INSERT INTO callback_gone (url, since) VALUES (@url, @now) ON CONFLICT (url) DO NOTHING',
  // Another deliverer's attempt in flight to the same URL ends by itself.
  endGone: `UPDATE deliveries SET state = 'gone', state_time = @now
    WHERE url = @url AND state = 'pending' AND lease_expires_at <= @now`,
  unmarkGone: 'DELETE FROM callback_gone WHERE url = @url',
  getDelivery: 'SELECT * FROM deliveries WHERE id = @id',
  listDeliveries: `SELECT * FROM deliveries
    WHERE (@state IS NULL OR state = @state) AND (@operation IS NULL OR name = @operation)
      AND (@after IS NULL OR (enqueue_time, id) < (SELECT enqueue_time, id FROM deliveries WHERE id = @after))
    ORDER BY enqueue_time DESC, id DESC ${LIMIT}`,
  retryDelivery: `UPDATE deliveries SET
      attempts = CASE WHEN state = 'pending' THEN attempts ELSE 0 END,
      state = 'pending', next_attempt_at = @now, state_time = @now
    WHERE id = @id AND state <> 'delivered'
    RETURNING *`,
  nextDeliveryDue: `SELECT MIN(next_attempt_at) FROM deliveries ${hint('deliveries_due')} WHERE state = 'pending'`,
  countDeliveries: 'SELECT state, COUNT(*) AS count FROM deliveries GROUP BY state',
  sweepDeliveries: `DELETE FROM deliveries WHERE id IN (
      SELECT id FROM deliveries WHERE state <> 'pending' AND state_time < @before ${LIMIT})`,
  // The change log (migration 0003).
  appendChange: 'INSERT INTO changes (origin, kind, subject, at) VALUES (@origin, @kind, @subject, @at)',
  trimChanges: 'DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - @keep',
  changesSince: 'SELECT seq, origin, kind, subject FROM changes WHERE seq > @seq ORDER BY seq',
  lastChange: 'SELECT COALESCE(MAX(seq), 0) AS last, COALESCE(MIN(seq), 0) AS first FROM changes',
};

/** Statements that return a single value rather than a row. */
const PLUCKED = new Set<keyof typeof SQL>(['dataVersion', 'countDone', 'nextDeliveryDue']);

export type Statements = { [Name in keyof typeof SQL]: Database.Statement };

export function prepareStatements(db: Database.Database): Statements {
  return Object.fromEntries(
  Object.entries(SQL).map(([name, sql]) => {
    const statement = db.prepare(sql);
    return [name, PLUCKED.has(name as keyof typeof SQL) ? statement.pluck() : statement];
  }),
  ) as Statements;
}
