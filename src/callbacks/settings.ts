/**
 * How this server does completion callbacks: its signing secrets, address policy, retry schedule
 * and per-principal endpoints, checked once at start. It is also the service's CallbackRegistrar:
 * it decides which URLs an operation's end goes to.
 */
import { readFileSync } from 'node:fs';
import type { CallbackRegistrar, RequestedCallback } from '../operations/callbacks.js';
import { AddressPolicy } from './address-policy.js';
import { DEFAULT_RETRY_SCHEDULE } from './schedule.js';
import type { Network } from './send.js';
import { parseSecrets, type WebhookSecret } from './sign.js';

/** Completion callbacks as an embedding app configures them (`LongrunOptions.callbacks`). */
export interface CallbackOptions {
  /** The signing secrets: `whsec_<base64>`, each signs every delivery (rotation: add the new, later drop the old). */
  secrets: readonly string[];
  /** CIDRs and host names exempt from the address policy; plain http:// only for these. */
  allow?: readonly string[];
  /** Delays between attempts, in ms (default: DEFAULT_RETRY_SCHEDULE); the delivery is dead after the last. */
  retrySchedule?: readonly number[];
  /** Principal (or `*` for every principal) to URLs told of every operation of theirs that ends. */
  endpoints?: Readonly<Record<string, readonly string[]>>;
  /** One attempt's limit, from resolving the name to the end of the response (default: 10 s). */
  attemptTimeoutMs?: number;
  /** Attempts in flight to one URL from this process (default: 16): a slow receiver holds up only its own deliveries. */
  maxPerReceiver?: number;
  /** Attempts in flight from this process in all (default: 64). */
  maxInFlight?: number;
  /** Resolver and connector (tests). */
  network?: Network;
}

export const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_PER_RECEIVER = 16;
export const DEFAULT_MAX_IN_FLIGHT = 64;
/** Endpoint file entries for every principal. */
const EVERY_PRINCIPAL = '*';

export class CallbackSettings implements CallbackRegistrar {
  readonly secrets: readonly WebhookSecret[];
  readonly policy: AddressPolicy;
  readonly retrySchedule: readonly number[];
  readonly attemptTimeoutMs: number;
  readonly maxPerReceiver: number;
  readonly maxInFlight: number;
  readonly network: Network;
  private readonly endpoints: ReadonlyMap<string, readonly string[]>;

  /** Throws Error naming what is wrong (a secret's line, an allow-list entry, an endpoint). */
  constructor(options: CallbackOptions) {
    this.secrets = parseSecrets(options.secrets.join('\n'));
    if (this.secrets.length === 0) throw new Error('callbacks need at least one whsec_ signing secret');
    this.policy = AddressPolicy.parse(options.allow ?? []);
    this.retrySchedule = options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE;
    this.attemptTimeoutMs = positive(options.attemptTimeoutMs, DEFAULT_ATTEMPT_TIMEOUT_MS, 'attemptTimeoutMs');
    this.maxPerReceiver = positive(options.maxPerReceiver, DEFAULT_MAX_PER_RECEIVER, 'maxPerReceiver');
    this.maxInFlight = positive(options.maxInFlight, DEFAULT_MAX_IN_FLIGHT, 'maxInFlight');
    this.network = options.network ?? {};
    const endpoints = new Map<string, string[]>();
    for (const [principal, urls] of Object.entries(options.endpoints ?? {})) {
      endpoints.set(principal, urls.map((url) => this.policy.checkUrl(url, `endpoint of ${principal}`)));
    }
    this.endpoints = endpoints;
  }

  callbacksFor(owner: string, requested: RequestedCallback | undefined): string[] {
    const urls = new Set<string>();
    if (requested !== undefined) urls.add(this.policy.checkUrl(requested.url, requested.field));
    for (const url of this.endpoints.get(owner) ?? []) urls.add(url);
    for (const url of this.endpoints.get(EVERY_PRINCIPAL) ?? []) urls.add(url);
    return [...urls];
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`callbacks: ${name} must be a positive number, got ${value}`);
  return value;
}

/**
 * The endpoints file: one `<principal> <url>` per line (a principal may have several lines; `*`
 * means every principal), blank lines and `#` comments ignored. `source` names it in errors.
 */
export function parseEndpoints(text: string, source: string): Record<string, string[]> {
  const endpoints: Record<string, string[]> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [principal, url, ...rest] = line.split(/[ \t]+/);
    if (url === undefined || rest.length > 0) throw new Error(`${source}, line ${index + 1}: expected two columns, a principal (or *) and a URL`);
    (endpoints[principal!] ??= []).push(url);
  });
  return endpoints;
}

/** Reads a file of the configuration, naming it in the error when it cannot be read. */
export function readConfigFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${what} ${path}: ${(error as Error).message}`);
  }
}
