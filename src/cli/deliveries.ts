/**
 * `longrun deliveries list|retry`: operators' view of the completion-callback outbox, read from
 * the store itself (--db), like copy-store: it works whether or not a server is up.
 */
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../defaults.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/open.js';
import type { DeliveryRecord, DeliveryState } from '../store/types.js';
import { Exit, UsageError } from './usage.js';

const STATES: readonly DeliveryState[] = ['pending', 'delivered', 'dead', 'gone'];
const PAGE = 500;

export async function deliveriesCommand(args: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      db: { type: 'string' },
      'pg-schema': { type: 'string' },
      state: { type: 'string' },
      operation: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [action, ...rest] = positionals;
  if (action !== 'list' && action !== 'retry') throw new UsageError(action === undefined ? 'list or retry is missing' : `unknown action "${action}" (list or retry)`);
  const state = values.state;
  if (state !== undefined && !(STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${STATES.join(', ')}`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError('--limit must be a positive whole number');
  if (action === 'retry' && rest.length !== 1) throw new UsageError('retry takes one delivery ID (msg_...)');
  if (action === 'list' && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);

  const pgSchema = values['pg-schema'] ?? env['LONGRUN_PG_SCHEMA'];
  const store = await openStore({
    databasePath: values.db ?? env['LONGRUN_DB'] ?? DEFAULTS.databasePath,
    ...(pgSchema !== undefined && { pgSchema }),
    pgPoolSize: 2,
    logger: createLogger('warn'),
  });
  try {
    if (action === 'retry') {
      const id = rest[0]!;
      const retried = await store.retryDelivery(id, Date.now());
      if (retried === undefined) {
        process.stderr.write(`longrun deliveries: no delivery ${id}\n`);
        return Exit.NOT_FOUND_OR_UNREACHABLE;
      }
      if (retried.state === 'delivered') {
        process.stderr.write(`longrun deliveries: ${id} was already delivered; nothing to retry\n`);
        return Exit.FAILED;
      }
      out.write(`${id} is pending again, due now (a deliverer sends it within its poll interval)\n`);
      return Exit.OK;
    }
    const deliveries: DeliveryRecord[] = [];
    for (let after: string | undefined; ; ) {
      const page = await store.listDeliveries({
        limit: Math.min(PAGE, (limit ?? Infinity) - deliveries.length),
        ...(state !== undefined && { state: state as DeliveryState }),
        ...(values.operation !== undefined && { operation: values.operation }),
        ...(after !== undefined && { after }),
      });
      deliveries.push(...page);
      if (page.length === 0 || deliveries.length === limit) break;
      after = page.at(-1)!.id;
    }
    out.write(values.json ? `${JSON.stringify({ deliveries: deliveries.map(jsonOf) }, null, 2)}\n` : table(deliveries));
    return Exit.OK;
  } finally {
    await store.close();
  }
}

/** Receivers are shown without query or fragment: those may carry tokens. */
function receiverOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

function lastOf(delivery: DeliveryRecord): string {
  return delivery.lastStatus !== undefined ? `HTTP ${delivery.lastStatus}` : (delivery.lastError ?? '');
}

function jsonOf(delivery: DeliveryRecord) {
  return {
    id: delivery.id,
    state: delivery.state,
    operation: delivery.operation.name,
    receiver: receiverOf(delivery.url),
    attempts: delivery.attempts,
    created_at: new Date(delivery.createTime).toISOString(),
    updated_at: new Date(delivery.updateTime).toISOString(),
    ...(delivery.state === 'pending' && { next_attempt_at: new Date(delivery.nextAttemptAt).toISOString() }),
    ...(delivery.deliveredTime !== undefined && { delivered_at: new Date(delivery.deliveredTime).toISOString() }),
    ...(delivery.lastStatus !== undefined && { last_status: delivery.lastStatus }),
    ...(delivery.lastError !== undefined && { last_error: delivery.lastError }),
  };
}

function table(deliveries: DeliveryRecord[]): string {
  const header = ['ID', 'STATE', 'ATTEMPTS', 'LAST', 'UPDATED', 'OPERATION', 'RECEIVER'];
  const rows = deliveries.map((d) => [d.id, d.state, String(d.attempts), lastOf(d), new Date(d.updateTime).toISOString(), d.operation.name, receiverOf(d.url)]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
