/**
 * Every SQL statement of the PostgreSQL store. Each is one round trip and its own transaction:
 * the guard is in the write (see ../types.ts), and the NOTIFY that tells other processes rides in
 * the same statement (a data-modifying CTE), so it is sent exactly when the write commits, at most
 * once per channel, with names only. Lease times come from the database clock (`NOW_MS`).
 */
import { POSTGRES_DIALECT } from '../sql/dialect.js';
import { claimCandidates, CLAIM_ORDER, fairSeq, onePerKey, pastStartDeadline, queuePlace, withinKeyLimits, type PolicySqlOptions } from '../sql/policies.js';
import { lockedInNameOrder } from '../sql/lock-order.js';
import { READ_COLUMNS } from '../sql/rows.js';
import type { StoreChange } from '../types.js';

/** The database clock in epoch milliseconds: every lease decision uses it. */
export const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** Arbitrary, fixed: the first half of the advisory try-locks a claim takes on concurrency keys ("keys"). */
const CLAIM_KEY_LOCK = 0x6b657973;

/** A payload above this many bytes says `*` (names unknown) instead; NOTIFY refuses 8000. */
const MAX_PAYLOAD_NAMES_BYTES = 7000;

export type ChangeKind = Exclude<StoreChange['kind'], 'resync'>;
export const CHANGE_KINDS: readonly ChangeKind[] = ['available', 'updated', 'cancel_requested', 'finished', 'deleted'];

/** The NOTIFY channel of one kind of change in one schema. */
export function channelOf(schema: string, kind: ChangeKind): string {
  return `${schema}.${kind}`;
}

/** A statement written with @named parameters, compiled to $n once. */
export interface Statement {
  text: string;
  names: string[];
}

export function compile(sql: string): Statement {
  const names: string[] = [];
  const text = sql.replace(/@(\w+)/g, (_, name: string) => {
    let index = names.indexOf(name);
    if (index === -1) index = names.push(name) - 1;
    return `$${index + 1}`;
  });
  return { text, names };
}

export function valuesOf(statement: Statement, params: Record<string, unknown>): unknown[] {
  return statement.names.map((name) => {
    if (!(name in params)) throw new Error(`statement parameter @${name} is missing`);
    return params[name];
  });
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function prepareStatements(schema: string, quotedSchema: string) {
  const T = `${quotedSchema}.operations`;
  const META = `${quotedSchema}.meta`;
  const D = `${quotedSchema}.deliveries`;
  const GONE = `${quotedSchema}.callback_gone`;
  /** A CTE named `alias` that notifies `kind` with the `column` values of `source`'s rows (distinct). */
  const notify = (alias: string, kind: ChangeKind, source: string, column: string) => `${alias} AS (
      SELECT pg_notify(${literal(channelOf(schema, kind))}, @origin::text || E'\\n' ||
        CASE WHEN sum(octet_length(${column}) + 1) < ${MAX_PAYLOAD_NAMES_BYTES} THEN string_agg(DISTINCT ${column}, E'\\n') ELSE '*' END)
      FROM ${source} HAVING count(*) > 0)`;
  const doneFields = `done = true, lease_holder = NULL, lease_expires_at = 0, running_key = NULL, update_time = @now::bigint, done_time = @now::bigint,
    expire_time = @now::bigint + CASE WHEN idempotency_key IS NULL THEN @retention::bigint ELSE GREATEST(@retention::bigint, @keyedRetention::bigint) END`;
  const fenced = 'name = @name AND lease_holder = @holder AND attempt = @attempt AND NOT done';
  const errorFields = 'error_code = @errorCode, error_message = @errorMessage, error_details = @errorDetails';
  const keepMetadata = 'metadata_type = COALESCE(@metadataType, metadata_type), metadata_value = COALESCE(@metadataValue::bytea, metadata_value)';
  const POLICY: PolicySqlOptions = {
    table: T,
    now: NOW_MS,
    notDone: (alias) => `NOT ${alias}.done`,
    greatest: 'GREATEST',
    fairIndexHoldsFinished: false,
    unitSeparator: 'chr(31)',
    indexHint: POSTGRES_DIALECT.indexHint,
    limit: POSTGRES_DIALECT.limit,
    keyLock: (key) => `pg_try_advisory_xact_lock(${CLAIM_KEY_LOCK}, hashtext(${key}))`,
  };
  /** A claim for methods allowing one operation per key ('1') or @keyLimit. */
  const claim = (keyLimit: '1' | '@keyLimit') => `WITH ready AS (${claimCandidates(POLICY, 'ready', keyLimit, 'FOR UPDATE SKIP LOCKED')}),
      due AS (${claimCandidates(POLICY, 'scheduled', keyLimit, 'FOR UPDATE SKIP LOCKED')}),
      picked AS (SELECT * FROM ready UNION ALL SELECT * FROM due),
      chosen AS (${keyLimit === '1' ? onePerKey(POLICY, 'picked') : withinKeyLimits(POLICY, 'picked')}),
      u AS (UPDATE ${T} o SET lease_holder = @holder, lease_expires_at = ${NOW_MS} + @leaseMs::bigint,
          attempt = o.attempt + 1, update_time = @now, running_key = chosen.running_key
        FROM chosen WHERE o.name = chosen.name RETURNING o.*)
      SELECT u.* FROM u ORDER BY ${CLAIM_ORDER}`;
  /** `UPDATE ... RETURNING` as CTE `u`, notifying `kind` for its rows; returns `columns` of u. */
  const updateNotifying = (update: string, kind: ChangeKind, columns = '*') =>
    `WITH u AS (${update}), ${notify('n', kind, 'u', 'name')} SELECT ${columns}, (SELECT count(*) FROM n) AS notified FROM u`;

  return {
    get: compile(`SELECT ${READ_COLUMNS} FROM ${T} WHERE name = @name`),
    getRequest: compile(`SELECT request_type, request_value, expire_time FROM ${T} WHERE name = @name`),
    byKey: compile(`SELECT ${READ_COLUMNS} FROM ${T} WHERE owner = @owner AND idempotency_key = @key`),
    // The unique (owner, idempotency_key) index decides between two creators with one key.
    insert: compile(`WITH ins AS (
        INSERT INTO ${T} (name, parent, method, owner, metadata_type, metadata_value, request_type, request_value,
          idempotency_key, request_fingerprint, max_attempts, create_time, update_time, callbacks, answer_style,
          run_after, priority, fair_seq, concurrency_key, timeout_ms, start_deadline, trace_context, rerun_of)
        VALUES (@name, @parent, @method, @owner, @metadataType, @metadataValue, @requestType, @requestValue, @key,
          @fingerprint, @maxAttempts, @now, @now, @callbacks::jsonb, @answerStyle,
          @runAfter::bigint, @priority::int, ${fairSeq(POLICY, '@owner::text', '@method::text', '@priority::int')}, @concurrencyKey,
          @timeoutMs::bigint, @startDeadline::bigint, @traceContext, @rerunOf::text)
        ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING method),
      ${notify('n', 'available', 'ins', 'method')}
      SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM n) AS notified`),
    // Group commit: the creations of one event-loop turn in one statement (and one NOTIFY). One
    // principal's creations in one batch take consecutive fair-share positions from its place, which
    // is read once per principal (method, priority), for the first of its rows, in subqueries fenced
    // off with OFFSET 0 so that the reads are not left to the rows' insertion: a read made while
    // inserting steps over the index entries of the rows this statement inserted before it
    // (invisible to it, so each fetched from the heap). Read per row that way, a batch of 1,000 made
    // 500,500 heap fetches (`npm run bench -- policies`).
    insertMany: compile(`WITH ins AS (
        INSERT INTO ${T} (name, parent, method, owner, metadata_type, metadata_value, request_type, request_value,
          idempotency_key, request_fingerprint, max_attempts, create_time, update_time, callbacks, answer_style,
          run_after, priority, fair_seq, concurrency_key, timeout_ms, start_deadline, trace_context, rerun_of)
        SELECT name, parent, method, owner, metadata_type, metadata_value, request_type, request_value,
          idempotency_key, request_fingerprint, max_attempts, create_time, create_time, callbacks::jsonb, answer_style,
          run_after, priority, max(place) OVER (PARTITION BY owner, method, priority) + k - 1,
          concurrency_key, timeout_ms, start_deadline, trace_context, rerun_of
        FROM (SELECT b.*, CASE WHEN k = 1 THEN ${fairSeq(POLICY, 'b.owner', 'b.method', 'b.priority')} END AS place
          FROM (SELECT l.*, row_number() OVER (PARTITION BY l.owner, l.method, l.priority ORDER BY l.ord) AS k
            FROM unnest(@names::text[], @parents::text[], @methods::text[], @owners::text[], @metadataTypes::text[],
              @metadataValues::bytea[], @requestTypes::text[], @requestValues::bytea[], @keys::text[], @fingerprints::text[],
              @maxAttempts::int[], @createTimes::bigint[], @callbacks::text[], @answerStyles::text[],
              @runAfters::bigint[], @priorities::int[], @concurrencyKeys::text[], @timeouts::bigint[], @startDeadlines::bigint[],
              @traceContexts::text[], @rerunOfs::text[])
              WITH ORDINALITY
              AS l(name, parent, method, owner, metadata_type, metadata_value, request_type, request_value, idempotency_key,
                request_fingerprint, max_attempts, create_time, callbacks, answer_style,
                run_after, priority, concurrency_key, timeout_ms, start_deadline, trace_context, rerun_of, ord)
            OFFSET 0) b
          OFFSET 0) s
        ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING name, method),
      ${notify('n', 'available', 'ins', 'method')}
      SELECT name, (SELECT count(*) FROM n) AS notified FROM ins`),
    // Batched completion: the outcomes of one event-loop turn in one statement, each row fenced;
    // rows locked in name order, as the heartbeat and release do (../sql/lock-order.ts).
    completeMany: compile(`WITH l AS (
        SELECT * FROM unnest(@names::text[], @holders::text[], @attempts::int[], @responseTypes::text[], @responseValues::bytea[],
          @errorCodes::int[], @errorMessages::text[], @errorDetails::text[], @metadataTypes::text[], @metadataValues::bytea[])
          AS l(name, holder, attempt, response_type, response_value, error_code, error_message, error_details, metadata_type, metadata_value)),
      u AS (UPDATE ${T} o SET done = true, lease_holder = NULL, lease_expires_at = 0, running_key = NULL, update_time = @now::bigint, done_time = @now::bigint,
          expire_time = @now::bigint + CASE WHEN o.idempotency_key IS NULL THEN @retention::bigint ELSE GREATEST(@retention::bigint, @keyedRetention::bigint) END,
          response_type = l.response_type, response_value = l.response_value,
          error_code = l.error_code, error_message = l.error_message, error_details = l.error_details,
          progress_percent = CASE WHEN l.error_code IS NULL THEN 100 ELSE o.progress_percent END,
          metadata_type = COALESCE(l.metadata_type, o.metadata_type), metadata_value = COALESCE(l.metadata_value, o.metadata_value)
        FROM l WHERE o.name = l.name AND o.lease_holder = l.holder AND o.attempt = l.attempt AND NOT o.done
          AND ${lockedInNameOrder(T, '@names::text[]', 'o')}
        RETURNING o.name),
      ${notify('n', 'finished', 'u', 'name')}
      SELECT name, (SELECT count(*) FROM n) AS notified FROM u`),
    deleteExpiredKeyHolder: compile(`DELETE FROM ${T}
      WHERE owner = @owner AND idempotency_key = @key AND expire_time IS NOT NULL AND expire_time <= @now`),
    cancelPending: compile(
      updateNotifying(
        `UPDATE ${T} SET ${doneFields}, ${errorFields}
          WHERE name = @name AND NOT done AND (lease_holder IS NULL OR lease_expires_at <= ${NOW_MS}) RETURNING ${READ_COLUMNS}`,
        'finished',
      ),
    ),
    flagCancel: compile(
      updateNotifying(
        `UPDATE ${T} SET cancel_requested = true, update_time = @now WHERE name = @name AND NOT done RETURNING ${READ_COLUMNS}`,
        'cancel_requested',
      ),
    ),
    deleteDone: compile(`WITH d AS (DELETE FROM ${T} WHERE name = @name AND done AND expire_time > @now RETURNING name),
      ${notify('n', 'deleted', 'd', 'name')} SELECT name, (SELECT count(*) FROM n) AS notified FROM d`),
    // Batches of work; SKIP LOCKED lets concurrent claimers take disjoint rows without waiting. No
    // NOTIFY: a claim changes nothing another process waits on (PostgreSQL caches only done rows).
    // Each key's within its limit, each in a slot of its own (../sql/policies.ts); the unique
    // running_key index settles races for a slot. The default of one per key has a statement of its own.
    queuePlace: compile(queuePlace(POLICY)),
    claim: compile(claim('1')),
    claimSlots: compile(claim('@keyLimit')),
    retry: compile(
      updateNotifying(
        `UPDATE ${T} SET lease_holder = NULL, lease_expires_at = 0, running_key = NULL,
            run_after = ${NOW_MS} + @delayMs::bigint, progress_percent = 0, estimated_completion = NULL, last_error_code = @errorCode::int, last_error_message = @errorMessage,
            update_time = @now::bigint
          WHERE ${fenced} AND attempt < max_attempts RETURNING name`,
        'updated',
        'name',
      ),
    ),
    expireStartDeadlines: compile(
      updateNotifying(
        `UPDATE ${T} SET ${doneFields}, ${errorFields}
          WHERE name IN (${pastStartDeadline(POLICY)} FOR UPDATE SKIP LOCKED)
            AND NOT done AND attempt = 0 AND lease_holder IS NULL
          RETURNING ${READ_COLUMNS}`,
        'finished',
      ),
    ),
    // Recovering leases that ran out with no attempts left: finding them is its own statement.
    exhausted: compile(`SELECT name, attempt FROM ${T}
      WHERE NOT done AND lease_expires_at > 0 AND lease_expires_at <= ${NOW_MS} AND attempt >= max_attempts`),
    abortExhausted: compile(
      updateNotifying(
        `UPDATE ${T} SET ${doneFields}, ${errorFields}
          WHERE name = @name AND attempt = @attempt AND NOT done AND lease_expires_at > 0
            AND lease_expires_at <= ${NOW_MS} AND attempt >= max_attempts
          RETURNING ${READ_COLUMNS}`,
        'finished',
      ),
    ),
    heartbeat: compile(`UPDATE ${T} o SET lease_expires_at = ${NOW_MS} + @leaseMs::bigint
      FROM unnest(@names::text[], @holders::text[], @attempts::int[]) AS l(name, holder, attempt)
      WHERE o.name = l.name AND o.lease_holder = l.holder AND o.attempt = l.attempt AND NOT o.done
        AND ${lockedInNameOrder(T, '@names::text[]', 'o')}
      RETURNING o.name, o.cancel_requested`),
    progress: compile(
      updateNotifying(
        `UPDATE ${T} SET
            progress_percent = COALESCE(@percent::double precision, progress_percent),
            estimated_completion = COALESCE(@eta::bigint, estimated_completion),
            ${keepMetadata},
            update_time = @now
          WHERE ${fenced} RETURNING name`,
        'updated',
        'name',
      ),
    ),
    release: compile(`WITH u AS (
        UPDATE ${T} o SET lease_holder = NULL, lease_expires_at = 0, running_key = NULL, attempt = o.attempt - 1
        FROM unnest(@names::text[], @holders::text[], @attempts::int[]) AS l(name, holder, attempt)
        WHERE o.name = l.name AND o.lease_holder = l.holder AND o.attempt = l.attempt AND NOT o.done
          AND ${lockedInNameOrder(T, '@names::text[]', 'o')}
        RETURNING o.name, o.method),
      ${notify('n1', 'updated', 'u', 'name')},
      ${notify('n2', 'available', 'u', 'method')}
      SELECT name, method, (SELECT count(*) FROM n1) + (SELECT count(*) FROM n2) AS notified FROM u`),
    sweep: compile(`DELETE FROM ${T} WHERE name IN (
        SELECT name FROM ${T} WHERE expire_time IS NOT NULL AND expire_time <= @now LIMIT @limit FOR UPDATE SKIP LOCKED)`),
    countUnfinished: compile(`SELECT count(*) FILTER (WHERE lease_expires_at <= ${NOW_MS})::int AS pending,
        count(*) FILTER (WHERE lease_expires_at > ${NOW_MS})::int AS running
      FROM ${T} WHERE NOT done`),
    countDone: compile(`SELECT count(*)::int AS done FROM ${T} WHERE expire_time IS NOT NULL AND expire_time > @now`),
    // The outbox (migration 0002; its trigger writes deliveries). Leases by the database clock.
    claimDeliveries: compile(`WITH picked AS (
        SELECT id FROM ${D}
        WHERE state = 'pending' AND next_attempt_at <= @now AND lease_expires_at <= ${NOW_MS}
          AND url <> ALL (@skipUrls::text[])
        ORDER BY next_attempt_at LIMIT @limit FOR UPDATE SKIP LOCKED)
      UPDATE ${D} d SET lease_holder = @holder, lease_expires_at = ${NOW_MS} + @leaseMs::bigint, claim = d.claim + 1
      FROM picked WHERE d.id = picked.id RETURNING d.*`),
    // A 410 also marks the URL gone and ends its other pending deliveries (not one in flight elsewhere).
    finishAttempt: compile(`WITH f AS (
        UPDATE ${D} SET state = @state, attempts = attempts + 1, next_attempt_at = @nextAttemptAt::bigint,
          last_status = @lastStatus::int, last_error = @lastError, delivered_time = @deliveredTime::bigint,
          state_time = @now::bigint, lease_holder = NULL, lease_expires_at = 0
        WHERE id = @id AND lease_holder = @holder AND claim = @claim AND state = 'pending'
        RETURNING url),
      g AS (INSERT INTO ${GONE} (url, since) SELECT url, @now::bigint FROM f WHERE @state = 'gone' ON CONFLICT (url) DO NOTHING),
      e AS (UPDATE ${D} d SET state = 'gone', state_time = @now::bigint FROM f
        WHERE @state = 'gone' AND d.url = f.url AND d.id <> @id AND d.state = 'pending' AND d.lease_expires_at <= ${NOW_MS})
      SELECT url FROM f`),
    getDelivery: compile(`SELECT * FROM ${D} WHERE id = @id`),
    listDeliveries: compile(`SELECT * FROM ${D}
      WHERE (@state::text IS NULL OR state = @state) AND (@operation::text IS NULL OR name = @operation)
        AND (@after::text IS NULL OR (enqueue_time, id) < (SELECT enqueue_time, id FROM ${D} WHERE id = @after))
      ORDER BY enqueue_time DESC, id DESC LIMIT @limit`),
    retryDelivery: compile(`WITH r AS (
        UPDATE ${D} SET attempts = CASE WHEN state = 'pending' THEN attempts ELSE 0 END,
          state = 'pending', next_attempt_at = @now::bigint, state_time = @now::bigint
        WHERE id = @id AND state <> 'delivered' RETURNING *),
      u AS (DELETE FROM ${GONE} WHERE url IN (SELECT url FROM r))
      SELECT * FROM r`),
    nextDeliveryDue: compile(`SELECT min(next_attempt_at) AS due FROM ${D} WHERE state = 'pending'`),
    countDeliveries: compile(`SELECT state, count(*)::int AS count FROM ${D} GROUP BY state`),
    sweepDeliveries: compile(`DELETE FROM ${D} WHERE id IN (
        SELECT id FROM ${D} WHERE state <> 'pending' AND state_time < @before LIMIT @limit FOR UPDATE SKIP LOCKED)`),
    insertMeta: compile(`INSERT INTO ${META} (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING`),
    getMeta: compile(`SELECT value FROM ${META} WHERE key = @key`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
