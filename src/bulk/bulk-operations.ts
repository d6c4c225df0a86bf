/**
 * `longrun.v1.BulkOperations`: re-run or cancel one operation or every one a filter matches, as a
 * long-running operation of its own. Written against longrun's public API, as an embedding app
 * would write such a method; `longrun serve` and `longrun runner` declare it.
 *
 * - Scope: the bulk operation's owner's operations; with `all_principals` (admins only, checked
 *   when it is created) everyone's. The runner that runs it acts for that scope, not as an admin.
 * - Progress: the metadata counts matched, changed and skipped operations as it goes.
 * - Retries and restarts: a bulk operation may run again from the start (a lost lease, a retry).
 *   Re-runs are keyed by the caller's `request_id`, or else by the bulk operation's own name, so
 *   running it again re-runs nothing twice; cancelling twice only skips what is already done.
 * - Size: one call handles the first MAX_BULK_OPERATIONS matches (newest first) and says
 *   `truncated`; call again for the rest (a re-run filter on `done = true` no longer matches what
 *   was re-run only if it also excludes re-runs, e.g. by method or time: see docs/policies.md).
 */
// Values from their own modules, only types from the Longrun class: the public index exports this module.
import type { Longrun } from '../longrun.js';
import { Code, LongrunError, invalidArgument } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import type { OperationContext } from '../methods/method.js';
import type { Caller } from '../operations/service.js';
import { parseFilter } from '../domain/filter.js';

export const RERUN_OPERATIONS_METHOD = '/longrun.v1.BulkOperations/RerunOperations';
export const CANCEL_OPERATIONS_METHOD = '/longrun.v1.BulkOperations/CancelOperations';
/** Operations one bulk call handles at most (its response lists each; this keeps it under the payload limit). */
export const MAX_BULK_OPERATIONS = 10_000;
/** Matches read per page, and handled between two progress reports. */
const PAGE_SIZE = 500;

interface Timestamp {
  seconds: number;
  nanos: number;
}
interface RerunOperationsRequest {
  name: string;
  filter: string;
  collection: string;
  dryRun: boolean;
  requestId: string;
  allPrincipals: boolean;
}
type CancelOperationsRequest = Omit<RerunOperationsRequest, 'name'>;
interface BulkOperationMetadata {
  matched: number;
  changed: number;
  skipped: number;
  dryRun: boolean;
  createTime: Timestamp;
}

export function addBulkOperations(longrun: Longrun): void {
  longrun.method<RerunOperationsRequest, BulkOperationMetadata, Record<string, unknown>>(
    RERUN_OPERATIONS_METHOD,
    async (request, context) => {
      const caller = await scopeOf(longrun, request, context);
      const key = request.requestId || context.name;
      const reruns: { original: string; operation: string }[] = [];
      const progress = newProgress(request, context);
      const visit = async (original: OperationRecord) => {
        if (!original.done) return false;
        if (!request.dryRun) reruns.push({ original: original.name, operation: (await longrun.rerun(original.name, { caller, idempotencyKey: key })).name });
        return true;
      };
      let truncated = false;
      if (request.name !== '') {
        const original = await longrun.get(request.name, { caller });
        if (!original.done) {
          throw new LongrunError(Code.FAILED_PRECONDITION, `operation ${original.name} is not done; only done operations are re-run (cancel it first)`, 'OPERATION_NOT_DONE', {
            metadata: { name: original.name },
          });
        }
        await progress.count(await visit(original));
      } else {
        truncated = await eachMatch(longrun, request, caller, context, async (op) => progress.count(await visit(op)));
      }
      const metadata = await progress.done();
      return { reruns, matched: metadata.matched, skipped: metadata.skipped, count: metadata.changed, truncated };
    },
    {
      validate(request) {
        if ((request.name === '') === (request.filter === '')) throw invalidArgument('name', 'give either name (one operation) or filter (every match), not both');
        checkFilter(request.filter);
      },
      authorize: checkScope,
      initialMetadata: (request, now) => ({ matched: 0, changed: 0, skipped: 0, dryRun: request.dryRun, createTime: timestamp(now.getTime()) }),
      // A bulk call is its own work: one run at a time per process is plenty, and it is safe to run again.
      concurrency: 2,
    },
  );
  longrun.method<CancelOperationsRequest, BulkOperationMetadata, Record<string, unknown>>(
    CANCEL_OPERATIONS_METHOD,
    async (request, context) => {
      const caller = await scopeOf(longrun, request, context);
      const cancelled: string[] = [];
      const progress = newProgress(request, context);
      const truncated = await eachMatch(longrun, request, caller, context, async (op) => {
        // Its own bulk operation matches a filter on unfinished operations: it goes on.
        if (op.done || op.name === context.name) return progress.count(false);
        if (!request.dryRun) {
          try {
            await longrun.cancel(op.name, { caller });
            cancelled.push(op.name);
          } catch (error) {
            // Ended meanwhile (done, deleted or expired): nothing left to cancel.
            if (error instanceof LongrunError && (error.code === Code.FAILED_PRECONDITION || error.code === Code.NOT_FOUND)) return progress.count(false);
            throw error;
          }
        }
        return progress.count(true);
      });
      const metadata = await progress.done();
      return { cancelled, matched: metadata.matched, skipped: metadata.skipped, count: metadata.changed, truncated };
    },
    {
      validate(request) {
        if (request.filter === '') throw invalidArgument('filter', 'must not be empty: name what to cancel (e.g. `done = false`)');
        checkFilter(request.filter);
      },
      authorize: checkScope,
      initialMetadata: (request, now) => ({ matched: 0, changed: 0, skipped: 0, dryRun: request.dryRun, createTime: timestamp(now.getTime()) }),
      concurrency: 2,
    },
  );
}

function checkFilter(filter: string): void {
  try {
    parseFilter(filter);
  } catch (error) {
    // The filter's own message names the rule; say which field of this request it is.
    if (error instanceof LongrunError) throw invalidArgument('filter', error.message.replace(/^filter: /, ''));
    throw error;
  }
}

function checkScope(request: { allPrincipals: boolean }, caller: { principal: string; admin?: boolean }): void {
  if (request.allPrincipals && !caller.admin) {
    throw new LongrunError(Code.PERMISSION_DENIED, 'all_principals: only an admin may act on every principal\'s operations', 'ADMIN_ONLY', {
      metadata: { field: 'all_principals' },
    });
  }
}

/** Whose operations the bulk operation may touch: its owner's, or everyone's when an admin asked. */
async function scopeOf(longrun: Longrun, request: { allPrincipals: boolean }, context: OperationContext<BulkOperationMetadata>): Promise<Caller> {
  const self = await longrun.get(context.name);
  return { principal: self.owner, admin: request.allPrincipals };
}

/** Calls `visit` for each match, newest first, up to MAX_BULK_OPERATIONS; true when more matched. */
async function eachMatch(
  longrun: Longrun,
  request: { filter: string; collection: string },
  caller: Caller,
  context: OperationContext<BulkOperationMetadata>,
  visit: (op: OperationRecord) => Promise<void>,
): Promise<boolean> {
  let seen = 0;
  let pageToken = '';
  do {
    const page = await longrun.list({ name: request.collection, filter: request.filter, pageSize: PAGE_SIZE, pageToken }, { caller });
    for (const op of page.operations) {
      if (seen === MAX_BULK_OPERATIONS) return true;
      context.signal.throwIfAborted();
      seen++;
      await visit(op);
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return false;
}

function newProgress(request: { dryRun: boolean }, context: OperationContext<BulkOperationMetadata>) {
  const metadata: BulkOperationMetadata = { matched: 0, changed: 0, skipped: 0, dryRun: request.dryRun, createTime: timestamp(context.createTime.getTime()) };
  return {
    async count(changed: boolean): Promise<void> {
      metadata.matched++;
      if (changed) metadata.changed++;
      else metadata.skipped++;
      if (metadata.matched % PAGE_SIZE === 0) await context.setMetadata(metadata);
    },
    async done(): Promise<BulkOperationMetadata> {
      await context.setMetadata(metadata);
      return metadata;
    },
  };
}

function timestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
