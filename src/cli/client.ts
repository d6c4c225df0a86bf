/** `longrun get|list|wait|cancel|delete`: a terminal client of any google.longrunning.Operations server. */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BUNDLED_PROTO_FILES } from '../protos/bundled.js';
import { ConfigError, parseDuration } from '../config.js';
import { Code, codeNameOf } from '../domain/errors.js';
import { createClient, type ClientOperation, type LongrunClient } from '../grpc/typed-client.js';
import { VISION_PROTO_FILES } from '../vision/protos.js';
import { OperationJson } from './json.js';
import { progressView, type ProgressView } from './progress.js';
import { formatTable } from './table.js';
import { CLIENT_COMMANDS, Exit, UsageError } from './usage.js';

export { CLIENT_COMMANDS } from './usage.js';
type ClientCommand = (typeof CLIENT_COMMANDS)[number];

const DEFAULT_ADDRESS = '127.0.0.1:50051';
/** Exit code of a command stopped by Ctrl-C, as shells report it (128 + SIGINT). */
const INTERRUPTED = 130;

const COMMON_FLAGS = {
  address: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

const BULK_FLAGS = {
  ...COMMON_FLAGS,
  filter: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'all-principals': { type: 'boolean' },
  'request-id': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

const FLAGS: Record<ClientCommand, NonNullable<ParseArgsConfig['options']>> = {
  get: COMMON_FLAGS,
  cancel: BULK_FLAGS,
  rerun: BULK_FLAGS,
  delete: COMMON_FLAGS,
  wait: { ...COMMON_FLAGS, timeout: { type: 'string' } },
  list: { ...COMMON_FLAGS, filter: { type: 'string' }, limit: { type: 'string' }, 'page-size': { type: 'string' }, json: { type: 'boolean' } },
};

export interface Terminal {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Runs a client command; returns its exit code (see `Exit`). Throws `UsageError` for a bad command line. */
export async function runClientCommand(command: ClientCommand, args: string[], env: NodeJS.ProcessEnv, terminal: Terminal): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: FLAGS[command], strict: true });
  const flag = (name: string) => values[name] as string | undefined;
  const maxPositionals = 1;
  if (positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${positionals[maxPositionals]}"`, command);
  const name = positionals[0];
  const bulk = (command === 'cancel' || command === 'rerun') && flag('filter') !== undefined;
  if (command !== 'list' && !bulk && name === undefined) throw new UsageError('the operation NAME is missing', command);
  if (!bulk && (values['dry-run'] || values['all-principals'])) throw new UsageError('--dry-run and --all-principals go with --filter', command);
  const limit = command === 'list' ? count(flag('limit'), '--limit') : undefined;
  const pageSize = command === 'list' ? count(flag('page-size'), '--page-size') : undefined;
  const timeoutMs = command === 'wait' && flag('timeout') !== undefined ? duration(flag('timeout')!, '--timeout') : undefined;

  const address = flag('address') ?? env['LONGRUN_ADDRESS'] ?? DEFAULT_ADDRESS;
  const client = createClient(address, {
    // longrun's and the Vision sample's types, for the table's TYPE, CREATED and UPDATED columns.
    protoFiles: [...BUNDLED_PROTO_FILES, ...VISION_PROTO_FILES],
    ...connectionOptions(flag, env),
  });
  const out = new OperationPrinter(client, terminal.stdout);
  let view: ProgressView | undefined;
  try {
    switch (command) {
      case 'get': {
        const code = await out.print(await client.get(name!));
        const summary = await schedulingSummary(client, name!);
        if (summary !== undefined) terminal.stderr.write(`${summary}\n`);
        return code;
      }
      case 'rerun':
        if (!bulk) {
          const ran = await waitOn(client, await client.bulk('RerunOperations', { name: name!, requestId: flag('request-id') ?? '' }));
          const created = (ran.response?.['reruns'] as { operation: string }[] | undefined)?.[0]?.operation;
          if (ran.error || created === undefined) return await out.print(ran);
          terminal.stderr.write(`re-ran ${name} as ${created}\n`);
          // The re-run was made: that is what the exit code says, whatever state the new one is in.
          await out.print(await client.get(created));
          return Exit.OK;
        }
        return await runBulk(client, out, terminal, 'RerunOperations', bulkRequest(values, name));
      case 'cancel':
        if (bulk) return await runBulk(client, out, terminal, 'CancelOperations', bulkRequest(values, name));
        await client.cancel(name!);
        terminal.stderr.write(`cancellation requested for ${name}\n`);
        return Exit.OK;
      case 'delete':
        await client.delete(name!);
        terminal.stderr.write(`deleted ${name}\n`);
        return Exit.OK;
      case 'list': {
        const operations: ClientOperation[] = [];
        if (limit !== 0) {
          for await (const operation of client.list({ name: name ?? 'operations', filter: flag('filter') ?? '', pageSize: pageSize ?? 0 })) {
            operations.push(operation);
            if (operations.length === limit) break;
          }
        }
        if (values['json']) await out.printList(operations);
        else terminal.stdout.write(`${formatTable(operations, terminal.stdout.isTTY ? terminal.stdout.columns || 80 : undefined).join('\n')}\n`);
        return Exit.OK;
      }
      case 'wait': {
        view = progressView(name!, terminal.stderr);
        const operation = await waitFor(client, name!, view, timeoutMs);
        if (operation === 'interrupted') return INTERRUPTED;
        view.finish(operation);
        view = undefined;
        const code = await out.print(operation);
        if (operation.done) return code;
        terminal.stderr.write(`longrun wait: timed out after --timeout ${flag('timeout')}; ${name} is still running (exit ${Exit.STILL_RUNNING})\n`);
        return Exit.STILL_RUNNING;
      }
    }
  } catch (error) {
    view?.abandon();
    const status = error as { code?: unknown; details?: string };
    if (typeof status.code !== 'number') throw error;
    if (status.code === Code.UNAVAILABLE && /No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(status.details ?? '')) {
      const cause = /(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT)/.exec(status.details ?? '')?.[1] ?? 'no connection';
      terminal.stderr.write(`longrun ${command}: no longrun server answers at ${address} (${cause}); point at one with --address HOST:PORT or LONGRUN_ADDRESS\n`);
      return Exit.NOT_FOUND_OR_UNREACHABLE;
    }
    terminal.stderr.write(`longrun ${command}: ${status.details || String(error)}\n`);
    return exitOfStatus(status.code);
  } finally {
    client.close();
  }
}

/** A bulk call's request from the command line: the filter over COLLECTION, and its options. */
function bulkRequest(values: Record<string, unknown>, collection: string | undefined): Record<string, unknown> {
  return {
    filter: values['filter'],
    collection: collection ?? '',
    dryRun: values['dry-run'] === true,
    allPrincipals: values['all-principals'] === true,
    requestId: (values['request-id'] as string | undefined) ?? '',
  };
}

/** Starts a bulk operation, waits for it, prints it; stderr says how many it did (or would do). */
async function runBulk(client: LongrunClient, out: OperationPrinter, terminal: Terminal, method: 'RerunOperations' | 'CancelOperations', request: Record<string, unknown>): Promise<number> {
  const done = await waitOn(client, await client.bulk(method, request));
  const count = done.response?.['count'];
  if (typeof count === 'number') {
    const verb = method === 'RerunOperations' ? 're-run' : 'cancel';
    const did = method === 'RerunOperations' ? 're-ran' : 'cancelled';
    const truncated = done.response?.['truncated'] ? ' (more matched: run it again for the rest)' : '';
    terminal.stderr.write(`${request['dryRun'] ? `would ${verb}` : did} ${count} operation${count === 1 ? '' : 's'}${truncated}\n`);
  }
  return out.print(done);
}

async function waitOn(client: LongrunClient, operation: ClientOperation): Promise<ClientOperation> {
  return operation.done ? operation : client.wait(operation.name);
}

/**
 * One line on what GetOperation cannot say: the attempt, why it waits and until when, the last
 * attempt's error, the operation it re-runs. Nothing from a server without longrun.v1.Watcher.
 */
async function schedulingSummary(client: LongrunClient, name: string): Promise<string | undefined> {
  let state;
  try {
    state = await client.scheduling(name);
  } catch {
    return undefined;
  }
  const parts = [`attempt ${state.attempt}`];
  if (state.waitingReason !== undefined) {
    const until = state.estimatedStart === undefined ? '' : ` until ${state.estimatedStart.toISOString()}`;
    // The server counts positions up to 1000 (longrun.v1.WatchOperationResponse.queue_position).
    const position = state.queuePosition === undefined ? '' : `, position ${state.queuePosition >= 1000 ? '1000+' : state.queuePosition}`;
    parts.push(state.waitingReason === 'retry_scheduled' ? `next attempt at ${state.estimatedStart?.toISOString() ?? 'once due'}` : `waiting: ${state.waitingReason}${until}${position}`);
  }
  if (state.lastError !== undefined) parts.push(`last error: ${codeNameOf(state.lastError.code) ?? state.lastError.code}: ${state.lastError.message}`);
  if (state.rerunOf !== undefined) parts.push(`re-run of ${state.rerunOf}`);
  return parts.join('; ');
}

/** The exit code for a call that failed with this gRPC status code. */
export function exitOfStatus(code: number): number {
  if (code === Code.NOT_FOUND || code === Code.UNAVAILABLE) return Exit.NOT_FOUND_OR_UNREACHABLE;
  if (code === Code.INVALID_ARGUMENT) return Exit.USAGE;
  return Exit.FAILED;
}

/**
 * Follows the operation to its end; at `timeoutMs`, returns it as it then stands (not done).
 * Ctrl-C stops the wait (the operation goes on).
 */
async function waitFor(client: LongrunClient, name: string, view: ProgressView, timeoutMs: number | undefined): Promise<ClientOperation | 'interrupted'> {
  const stop = new AbortController();
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    stop.abort();
  };
  process.once('SIGINT', onInterrupt);
  // A timer of our own: in Node 20 a signal from AbortSignal.any() over AbortSignal.timeout() may never fire.
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => stop.abort(), timeoutMs);
  try {
    // At once: whether it exists, and where it stands (WaitOperation answers only after a second).
    const now = await client.get(name);
    if (now.done) return now;
    view.update(now);
    return await client.wait(name, { signal: stop.signal, onProgress: (operation) => view.update(operation) });
  } catch (error) {
    if (!stop.signal.aborted) throw error;
    if (interrupted) {
      view.abandon();
      return 'interrupted';
    }
    // The timeout: one last look, which may also find it just done.
    return await client.get(name);
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onInterrupt);
  }
}

function connectionOptions(flag: (name: string) => string | undefined, env: NodeJS.ProcessEnv) {
  const files = {
    ca: flag('tls-ca') ?? env['LONGRUN_TLS_CA'],
    cert: flag('tls-cert') ?? env['LONGRUN_TLS_CLIENT_CERT'],
    key: flag('tls-key') ?? env['LONGRUN_TLS_CLIENT_KEY'],
  };
  if ((files.cert === undefined) !== (files.key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const tls = Object.values(files).some((file) => file !== undefined)
    ? Object.fromEntries(Object.entries(files).flatMap(([part, file]) => (file === undefined ? [] : [[part, readPem(file, `--tls-${part}`)]])))
    : undefined;
  // The token comes from the environment only, never a flag, so that it stays out of `ps` and shell history.
  const token = env['LONGRUN_TOKEN'];
  return { ...(token !== undefined && token !== '' && { token }), ...(tls !== undefined && { tls }) };
}

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${option} ${path}: ${(error as Error).message}`);
  }
}

function count(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} takes a whole number, not "${value}"`);
  return Number(value);
}

function duration(value: string, option: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`${option}: ${error.message}`);
    throw error;
  }
}

/** Prints operations as proto3 JSON (see OperationJson). */
class OperationPrinter {
  private readonly json: OperationJson;

  constructor(
    client: LongrunClient,
    private readonly stdout: NodeJS.WritableStream,
  ) {
    this.json = new OperationJson(client.registry, (typeName) => client.fileDescriptorsOf(typeName));
  }

  /** Returns the exit code the operation implies. */
  async print(operation: ClientOperation): Promise<number> {
    await this.json.learnTypesOf([operation.wire]);
    this.stdout.write(`${JSON.stringify(this.json.of(operation.wire), null, 2)}\n`);
    return operation.error ? Exit.FAILED : Exit.OK;
  }

  async printList(operations: ClientOperation[]): Promise<void> {
    await this.json.learnTypesOf(operations.map((operation) => operation.wire));
    this.stdout.write(`${JSON.stringify({ operations: operations.map((operation) => this.json.of(operation.wire)) }, null, 2)}\n`);
  }
}
