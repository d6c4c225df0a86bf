/**
 * What `serve` and `runner` say when a port cannot be had: one line naming the address, what it
 * was for and the option that moves it, instead of a stack trace (exit 5, `Exit.CANNOT_LISTEN`).
 */

/** A listen that failed for a reason the person starting the server can act on. */
export class ListenFailure extends Error {}

/** Why a listen can fail, in words, and which option to change: the port's own, or --host. */
const REASONS: Record<string, { reason: string; moves: 'port' | 'host' }> = {
  EADDRINUSE: { reason: 'address already in use', moves: 'port' },
  EACCES: { reason: 'permission denied (ports below 1024 need privileges)', moves: 'port' },
  EADDRNOTAVAIL: { reason: 'address not available on this machine', moves: 'host' },
  ENOTFOUND: { reason: 'host not found', moves: 'host' },
  EAI_AGAIN: { reason: 'host not found', moves: 'host' },
};

export interface Listening {
  /** What the port serves, as the line names it: gRPC, HTTP, metrics. */
  what: string;
  host: string;
  port: number;
  /** How to move it, e.g. "--http-port (or --http-port off)". */
  option: string;
}

/** Runs `open` (a listen); a failure of a kind in REASONS becomes a ListenFailure with its one line. */
export async function listening<T>(target: Listening, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    const known = REASONS[(error as { code?: string }).code ?? ''];
    if (known === undefined) throw error;
    const address = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    const remedy = known.moves === 'host' ? 'choose another with --host' : `choose another with ${target.option}`;
    throw new ListenFailure(`cannot listen on ${address} for ${target.what}: ${known.reason}; ${remedy}`, { cause: error });
  }
}
