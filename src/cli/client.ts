/** `longrun get|list|wait|cancel|delete`: a terminal client of any google.longrunning.Operations server. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BUNDLED_PROTO_FILES } from '../app.js';
import { parseDuration } from '../config.js';
import type { Any__Output } from '../gen/google/protobuf/Any.js';
import type { Operation__Output } from '../gen/google/longrunning/Operation.js';
import { OperationsClient } from '../grpc/client.js';
import { TypeRegistry } from '../protos/registry.js';

export const CLIENT_COMMANDS = ['get', 'list', 'wait', 'cancel', 'delete'] as const;
type ClientCommand = (typeof CLIENT_COMMANDS)[number];

export class ClientUsageError extends Error {}

const DEFAULT_ADDRESS = '127.0.0.1:50051';
/** How often `wait` refreshes progress while the operation runs. */
const WAIT_SLICE_MS = 1000;

/** Exit codes: 0 ok, 1 the operation failed (or the call failed), 2 usage, 3 not found or unreachable. */
export async function runClientCommand(command: ClientCommand, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      address: { type: 'string', default: env['LONGRUN_ADDRESS'] ?? DEFAULT_ADDRESS },
      filter: { type: 'string', default: '' },
      'page-size': { type: 'string', default: '0' },
      'page-token': { type: 'string', default: '' },
      all: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      // TLS: the CA that signed the server's certificate; --tls-cert/--tls-key for mTLS.
      'tls-ca': { type: 'string', default: env['LONGRUN_TLS_CA'] },
      'tls-cert': { type: 'string', default: env['LONGRUN_TLS_CLIENT_CERT'] },
      'tls-key': { type: 'string', default: env['LONGRUN_TLS_CLIENT_KEY'] },
    },
  });
  const tlsFiles = { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] };
  const tls = Object.values(tlsFiles).some((file) => file !== undefined)
    ? Object.fromEntries(Object.entries(tlsFiles).flatMap(([part, file]) => (file === undefined ? [] : [[part, readFileSync(file)]])))
    : undefined;
  // The token comes from the environment only, never a flag, so that it stays out of `ps` and shell history.
  const token = env['LONGRUN_TOKEN'];
  const client = new OperationsClient(values.address!, { ...(token !== undefined && token !== '' && { token }), ...(tls !== undefined && { tls }) });
  const printer = new OperationPrinter();
  try {
    if (command === 'list') {
      let pageToken = values['page-token']!;
      do {
        const page = await client.list({
          name: positionals[0] ?? 'operations',
          filter: values.filter!,
          pageSize: Number(values['page-size']),
          pageToken,
        });
        for (const operation of page.operations) printer.print(operation);
        pageToken = page.nextPageToken;
        if (pageToken !== '' && !values.all) process.stderr.write(`next page: --page-token ${pageToken}\n`);
      } while (values.all && pageToken !== '');
      return 0;
    }
    const name = positionals[0];
    if (name === undefined) throw new ClientUsageError(`usage: longrun ${command} NAME [--address host:port]`);
    switch (command) {
      case 'get':
        return printer.print((await client.get(name)).operation);
      case 'cancel':
        await client.cancel(name);
        process.stderr.write(`cancellation requested for ${name}\n`);
        return 0;
      case 'delete':
        await client.delete(name);
        process.stderr.write(`deleted ${name}\n`);
        return 0;
      case 'wait':
        return printer.print(await waitWithProgress(client, name, values.timeout));
    }
  } catch (error) {
    const status = error as { code?: number; details?: string };
    if (typeof status.code !== 'number') throw error;
    process.stderr.write(`longrun ${command}: ${status.details ?? String(error)}\n`);
    return status.code === 5 || status.code === 14 ? 3 : 1;
  } finally {
    client.close();
  }
}

async function waitWithProgress(client: OperationsClient, name: string, timeout: string | undefined): Promise<Operation__Output> {
  const deadline = timeout === undefined ? Infinity : Date.now() + parseDuration(timeout);
  let shown = '';
  for (;;) {
    const slice = Math.max(0, Math.min(WAIT_SLICE_MS, deadline - Date.now()));
    const { operation, progressPercent, estimatedCompletion } = await client.wait(name, slice);
    if (operation.done || Date.now() >= deadline) return operation;
    const line = `${name}: ${progressPercent ?? 0}%${estimatedCompletion ? `, done around ${estimatedCompletion.toISOString()}` : ''}`;
    if (line !== shown) process.stderr.write(`${line}\n`);
    shown = line;
  }
}

/** Prints an operation as JSON, decoding `Any`s whose types longrun knows. */
class OperationPrinter {
  private readonly registry = new TypeRegistry(BUNDLED_PROTO_FILES);

  /** Returns the exit code the operation implies. */
  print(operation: Operation__Output): number {
    const json: Record<string, unknown> = { name: operation.name, done: operation.done };
    if (operation.metadata) json['metadata'] = this.any(operation.metadata);
    if (operation.response) json['response'] = this.any(operation.response);
    if (operation.error) {
      json['error'] = { ...operation.error, details: operation.error.details.map((d) => this.any(d)) };
    }
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return operation.error ? 1 : 0;
  }

  private any(any: Any__Output): Record<string, unknown> {
    const value = { typeUrl: any.type_url, value: new Uint8Array(any.value) };
    try {
      return { '@type': any.type_url, ...this.registry.unpack(value) };
    } catch {
      return { '@type': any.type_url, value: Buffer.from(any.value).toString('base64') };
    }
  }
}
