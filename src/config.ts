/**
 * Every server option, its flag, its environment variable, its default and why. Parsed and
 * validated once; the rest of the code receives a typed `ServerConfig` and never reads env/argv.
 * Precedence: flag, then environment variable, then default.
 */
import { MAX_CONCURRENCY_PER_KEY } from './domain/operation.js';
import type { LogFormat, LogLevel } from './log.js';

export interface ServerConfig {
  host: string;
  port: number;
  /** A SQLite file path, or a postgres:// / postgresql:// URL. */
  databasePath: string;
  pgSchema: string;
  pgPool: number;
  /** undefined: LISTEN on --db itself. */
  pgListenUrl?: string;
  noRunner: boolean;
  synchronous: 'NORMAL' | 'FULL';
  retentionMs: number;
  waitCapMs: number;
  maxWaitsPerPrincipal: number;
  watchCapMs: number;
  maxWatchesPerPrincipal: number;
  watchIntervalMs: number;
  leaseMs: number;
  pollMs: number;
  maxAttempts: number;
  retryBackoffMs: number;
  retryMaxBackoffMs: number;
  retryMultiplier: number;
  concurrencyPerKey: number;
  shutdownGraceMs: number;
  sweepIntervalMs: number;
  enableSleeper: boolean;
  enableVision: boolean;
  storageRoot: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** undefined: no metrics endpoint. */
  metricsPort: number | undefined;
  /** undefined: no HTTP gateway. */
  httpPort: number | undefined;
  httpRetryAfterCapMs: number;
  httpAllowedHosts: string[];
  httpCorsOrigins: string[];
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  admins: string[];
  allowInsecure: boolean;
  callbackSecretFile?: string;
  callbackAllow: string[];
  /** undefined: the default schedule. */
  callbackRetry?: string;
  callbackEndpointsFile?: string;
  callbackTimeoutMs: number;
  callbackMaxPerReceiver: number;
}

/** `file`: an optional path, '' for none. `list`: comma-separated, '' for none. */
type Kind = 'string' | 'file' | 'list' | 'port' | 'optional-port' | 'duration' | 'int' | 'boolean' | 'enum';

export interface OptionSpec {
  key: keyof ServerConfig;
  flag: string;
  env: string;
  kind: Kind;
  default: string;
  values?: readonly string[];
  /** An int's largest value (default: none). */
  max?: number;
  /** A boolean's second flag that sets it to false (e.g. --no-vision). */
  negation?: string;
  description: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'host', flag: 'host', env: 'LONGRUN_HOST', kind: 'string', default: '127.0.0.1',
    description: 'Address to listen on. Loopback by default; any other address needs authentication (--token-file or --tls-client-ca) unless --allow-insecure.' },
  { key: 'port', flag: 'port', env: 'LONGRUN_PORT', kind: 'port', default: '50051',
    description: 'TCP port; 0 picks a free one (the bound address is printed).' },
  { key: 'databasePath', flag: 'db', env: 'LONGRUN_DB', kind: 'string', default: './data/longrun.db',
    description: 'The store: a SQLite database file (its folder is created if missing), or a postgres:// or postgresql:// URL for PostgreSQL, where many servers and runners share one database.' },
  { key: 'pgSchema', flag: 'pg-schema', env: 'LONGRUN_PG_SCHEMA', kind: 'string', default: 'longrun',
    description: "PostgreSQL schema of longrun's tables; created and migrated by whichever process starts first." },
  { key: 'pgPool', flag: 'pg-pool', env: 'LONGRUN_PG_POOL', kind: 'int', default: '10',
    description: 'PostgreSQL connections in the pool of each process (each also holds one LISTEN connection): budget processes x (pool + 1) under max_connections.' },
  { key: 'pgListenUrl', flag: 'pg-listen-url', env: 'LONGRUN_PG_LISTEN_URL', kind: 'file', default: '',
    description: 'PostgreSQL URL for the LISTEN connection when --db is a transaction-mode pooler (LISTEN needs a session); empty: --db itself.' },
  { key: 'noRunner', flag: 'no-runner', env: 'LONGRUN_NO_RUNNER', kind: 'boolean', default: 'false',
    description: 'serve only: answer the RPCs and create operations but run no handlers; `longrun runner` processes run them.' },
  { key: 'synchronous', flag: 'sync', env: 'LONGRUN_SYNC', kind: 'enum', default: 'NORMAL', values: ['NORMAL', 'FULL'],
    description: 'SQLite synchronous mode. NORMAL survives a crash of the process (kill -9); FULL also survives power loss, at one fsync per write.' },
  { key: 'retentionMs', flag: 'retention', env: 'LONGRUN_RETENTION', kind: 'duration', default: '30d',
    description: 'How long a finished operation stays readable before it behaves as NOT_FOUND and is swept.' },
  { key: 'waitCapMs', flag: 'wait-cap', env: 'LONGRUN_WAIT_CAP', kind: 'duration', default: '60s',
    description: 'Longest a WaitOperation call waits, whatever timeout it asks for.' },
  { key: 'maxWaitsPerPrincipal', flag: 'max-waits-per-principal', env: 'LONGRUN_MAX_WAITS_PER_PRINCIPAL', kind: 'int', default: '1000',
    description: 'WaitOperation calls one principal may have in progress at once; more are refused with RESOURCE_EXHAUSTED.' },
  { key: 'watchCapMs', flag: 'watch-cap', env: 'LONGRUN_WATCH_CAP', kind: 'duration', default: '1h',
    description: 'Longest a watch stream (gRPC WatchOperation, HTTP :watch events) stays open; it then ends before done and the client watches again.' },
  { key: 'maxWatchesPerPrincipal', flag: 'max-watches-per-principal', env: 'LONGRUN_MAX_WATCHES_PER_PRINCIPAL', kind: 'int', default: '1000',
    description: 'Watch streams one principal may have open at once; more are refused with RESOURCE_EXHAUSTED.' },
  { key: 'watchIntervalMs', flag: 'watch-interval', env: 'LONGRUN_WATCH_INTERVAL', kind: 'duration', default: '100ms',
    description: 'Shortest time between two states sent to one watcher: faster progress is coalesced to the latest state (the done state is always sent).' },
  { key: 'leaseMs', flag: 'lease', env: 'LONGRUN_LEASE', kind: 'duration', default: '30s',
    description: "How long a runner's claim lasts without a heartbeat; after a crash, work restarts this long later." },
  { key: 'pollMs', flag: 'poll', env: 'LONGRUN_POLL', kind: 'duration', default: '1s',
    description: 'How often the store is checked for work created by other processes or abandoned by dead ones.' },
  { key: 'maxAttempts', flag: 'max-attempts', env: 'LONGRUN_MAX_ATTEMPTS', kind: 'int', default: '3',
    description: 'Runs of an operation in all (the first, retries after retryable failures, reruns after lost leases); after the last a failure ends it with the handler\'s error, a lost lease with ABORTED.' },
  { key: 'retryBackoffMs', flag: 'retry-backoff', env: 'LONGRUN_RETRY_BACKOFF', kind: 'duration', default: '1s',
    description: 'Wait before the first retry of a failed run (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN or an unexpected throw); each later wait is --retry-multiplier times longer, plus up to 20% at random. A RetryInfo in the error sets it instead.' },
  { key: 'retryMaxBackoffMs', flag: 'retry-max-backoff', env: 'LONGRUN_RETRY_MAX_BACKOFF', kind: 'duration', default: '60s',
    description: 'Longest wait between two attempts of an operation.' },
  { key: 'retryMultiplier', flag: 'retry-multiplier', env: 'LONGRUN_RETRY_MULTIPLIER', kind: 'int', default: '2',
    description: 'Each wait between attempts is this many times the previous (1: a constant wait).' },
  { key: 'concurrencyPerKey', flag: 'concurrency-per-key', env: 'LONGRUN_CONCURRENCY_PER_KEY', kind: 'int', default: '1', max: MAX_CONCURRENCY_PER_KEY,
    description: `Operations of one concurrency key (Longrun-Concurrency-Key) that may run at once, across every process on the store, for each method served (1 to ${MAX_CONCURRENCY_PER_KEY}). Every process serving a method should say the same.` },
  { key: 'shutdownGraceMs', flag: 'shutdown-grace', env: 'LONGRUN_SHUTDOWN_GRACE', kind: 'duration', default: '10s',
    description: 'On SIGTERM/SIGINT, how long running calls and handlers may finish before leases are released.' },
  { key: 'sweepIntervalMs', flag: 'sweep-interval', env: 'LONGRUN_SWEEP_INTERVAL', kind: 'duration', default: '1m',
    description: 'How often expired operations are deleted (in small batches).' },
  { key: 'enableSleeper', flag: 'enable-sleeper', env: 'LONGRUN_ENABLE_SLEEPER', kind: 'boolean', default: 'false',
    description: 'Serve longrun.testing.v1.Sleeper/Sleep, a method that runs for a given time and reports progress (tests, demos).' },
  // On by default: the standalone server exists to show the sample, and without it nothing can start an operation.
  // The library (createLongrun) adds no method by itself.
  { key: 'enableVision', flag: 'enable-vision', env: 'LONGRUN_ENABLE_VISION', kind: 'boolean', default: 'true', negation: 'no-vision',
    description: 'Serve the Vision sample, google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles (text detection on PDF); --no-vision or false turns it off.' },
  { key: 'storageRoot', flag: 'storage-root', env: 'LONGRUN_STORAGE_ROOT', kind: 'string', default: './data/storage',
    description: 'Where the Vision sample finds gs://BUCKET/OBJECT: the file <root>/BUCKET/OBJECT. Nothing outside it is read or written.' },
  { key: 'logLevel', flag: 'log-level', env: 'LONGRUN_LOG_LEVEL', kind: 'enum', default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    description: 'Log level; logs go to stderr.' },
  { key: 'logFormat', flag: 'log-format', env: 'LONGRUN_LOG_FORMAT', kind: 'enum', default: 'auto', values: ['auto', 'json', 'pretty'],
    description: 'json: one JSON object per line (for log collectors); pretty: human-readable; auto: pretty when stderr is a terminal, else json.' },
  { key: 'metricsPort', flag: 'metrics-port', env: 'LONGRUN_METRICS_PORT', kind: 'optional-port', default: '',
    description: 'Serve Prometheus metrics over HTTP at /metrics on this port (same host); 0 picks a free one; empty: off.' },
  { key: 'httpPort', flag: 'http-port', env: 'LONGRUN_HTTP_PORT', kind: 'optional-port', default: '8080',
    description: 'Serve the REST form (HTTP/JSON from the google.api.http rules) on this port, same host, TLS when gRPC has it; 0 picks a free one; off (or empty): no HTTP.' },
  { key: 'httpRetryAfterCapMs', flag: 'http-retry-after-cap', env: 'LONGRUN_HTTP_RETRY_AFTER_CAP', kind: 'duration', default: '30s',
    description: 'Longest Retry-After the HTTP gateway suggests while an operation runs (it is derived from progress and the estimated completion).' },
  { key: 'httpAllowedHosts', flag: 'http-allowed-hosts', env: 'LONGRUN_HTTP_ALLOWED_HOSTS', kind: 'list', default: '',
    description: 'Comma-separated host names the HTTP gateway answers to (any port; .example.com for its subdomains) besides IP addresses, localhost and --host; other Host headers get 421, so a web page cannot reach it by DNS rebinding. * turns the check off, behind a proxy that checks Host. See docs/security.md.' },
  { key: 'httpCorsOrigins', flag: 'http-cors-origins', env: 'LONGRUN_HTTP_CORS_ORIGINS', kind: 'list', default: '',
    description: "Comma-separated origins (https://app.example.com) whose pages may call the HTTP gateway, with CORS; a request from any other page but the server's own (its console) is refused with 403." },
  { key: 'tokenFile', flag: 'token-file', env: 'LONGRUN_TOKEN_FILE', kind: 'file', default: '',
    description: 'Require "authorization: Bearer <token>" and map tokens to principals with this file (lines of "<sha256 hex> <principal>"; see longrun hash-token). Read at start.' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'LONGRUN_TLS_CERT', kind: 'file', default: '',
    description: 'Serve TLS with this PEM certificate chain (needs --tls-key).' },
  { key: 'tlsKey', flag: 'tls-key', env: 'LONGRUN_TLS_KEY', kind: 'file', default: '',
    description: 'PEM private key of --tls-cert.' },
  { key: 'tlsClientCa', flag: 'tls-client-ca', env: 'LONGRUN_TLS_CLIENT_CA', kind: 'file', default: '',
    description: 'Require client certificates signed by this PEM CA (mTLS, needs --tls-cert); the subject CN is the principal.' },
  { key: 'admins', flag: 'admins', env: 'LONGRUN_ADMINS', kind: 'list', default: '',
    description: "Comma-separated principals that see and manage every principal's operations (needs authentication)." },
  { key: 'callbackSecretFile', flag: 'callback-secret-file', env: 'LONGRUN_CALLBACK_SECRET_FILE', kind: 'file', default: '',
    description: 'Turns on completion callbacks (signed webhooks): the signing secrets, one whsec_<base64> a line; every line signs each delivery (rotation: add the new one, later remove the old). Without it a callback URL is refused with FAILED_PRECONDITION.' },
  { key: 'callbackAllow', flag: 'callback-allow', env: 'LONGRUN_CALLBACK_ALLOW', kind: 'list', default: '',
    description: 'Comma-separated CIDRs and host names that callbacks may reach although the address policy refuses them (loopback, private, link-local, metadata); plain http:// is accepted only for these.' },
  { key: 'callbackRetry', flag: 'callback-retry', env: 'LONGRUN_CALLBACK_RETRY', kind: 'file', default: '',
    description: 'Delays between callback attempts, comma-separated (ms, s, m, h, d); each is jittered by ±20% and stretched to a Retry-After; the delivery is dead after the last. Empty: 5s,30s,2m,10m,1h,6h,12h.' },
  { key: 'callbackEndpointsFile', flag: 'callback-endpoints-file', env: 'LONGRUN_CALLBACK_ENDPOINTS_FILE', kind: 'file', default: '',
    description: 'Per-server callback endpoints: lines of "<principal> <url>" (* for every principal); each receives the end of every operation of that principal. Read at start.' },
  { key: 'callbackTimeoutMs', flag: 'callback-timeout', env: 'LONGRUN_CALLBACK_TIMEOUT', kind: 'duration', default: '10s',
    description: 'Longest one callback attempt may take, from resolving the name to the end of the answer; a delivery whose sender crashed is retried about three times this later.' },
  { key: 'callbackMaxPerReceiver', flag: 'callback-max-per-receiver', env: 'LONGRUN_CALLBACK_MAX_PER_RECEIVER', kind: 'int', default: '16',
    description: 'Callback attempts one process has in flight to one URL at once (64 in all): a slow receiver holds up only its own deliveries.' },
  { key: 'allowInsecure', flag: 'allow-insecure', env: 'LONGRUN_ALLOW_INSECURE', kind: 'boolean', default: 'false',
    description: 'Allow a non-loopback --host without authentication, or with bearer tokens but no TLS (when a proxy in front provides them).' },
];

/**
 * The configuration table of docs/configuration.md, made from OPTIONS so the two cannot drift apart
 * (`npm run docs` writes it; a test compares).
 */
export function configurationTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = OPTIONS.map((spec) => {
    const fallback = spec.default === '' ? 'none' : `\`${spec.default}\``;
    const values = spec.values === undefined || spec.description.includes(spec.values[0]!) ? '' : ` One of ${spec.values.map((v) => `\`${v}\``).join(', ')}.`;
    const flags = [spec.flag, ...(spec.negation === undefined ? [] : [spec.negation])].map((flag) => `\`--${flag}\``).join(', ');
    return `| ${flags} | \`${spec.env}\` | ${fallback} | ${cell(spec.description + values)} |`;
  });
  return ['| flag | environment | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `flags` from the command line (by flag name), `env` usually process.env. */
export function loadConfig(flags: Record<string, string | boolean | undefined>, env: Record<string, string | undefined>): ServerConfig {
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const negated = spec.negation !== undefined && flags[spec.negation] === true;
    if (negated && flags[spec.flag] !== undefined) throw new ConfigError(`--${spec.flag} and --${spec.negation} contradict each other`);
    const flag = negated ? false : flags[spec.flag];
    const raw = flag !== undefined ? String(flag) : (env[spec.env] ?? spec.default);
    const source = negated ? `--${spec.negation}` : flag !== undefined ? `--${spec.flag}` : env[spec.env] !== undefined ? spec.env : 'default';
    const value = parseValue(spec, raw, source);
    if (value !== undefined) config[spec.key] = value;
  }
  return checkCombination(config as unknown as ServerConfig);
}

/** Options that are each valid but dangerous or meaningless together. */
function checkCombination(config: ServerConfig): ServerConfig {
  if (config.pgListenUrl !== undefined && !/^postgres(ql)?:\/\//i.test(config.pgListenUrl)) {
    throw new ConfigError('--pg-listen-url must be a postgres:// or postgresql:// URL');
  }
  const authenticated = config.tokenFile !== undefined || config.tlsClientCa !== undefined;
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) throw new ConfigError('--tls-cert and --tls-key go together');
  if (config.tlsClientCa !== undefined && config.tlsCert === undefined) {
    throw new ConfigError('--tls-client-ca needs --tls-cert and --tls-key (client certificates are part of TLS)');
  }
  if (config.admins.length > 0 && !authenticated) {
    throw new ConfigError('--admins needs authentication (--token-file or --tls-client-ca); without it every caller is one principal');
  }
  if (!config.allowInsecure && !isLoopback(config.host)) {
    if (!authenticated) {
      throw new ConfigError(
        `--host ${config.host} is reachable from other machines and no authentication is configured: anyone could read and ` +
          'cancel every operation. Configure --token-file or --tls-client-ca, or pass --allow-insecure if a proxy in front authenticates callers.',
      );
    }
    if (config.tokenFile !== undefined && config.tlsCert === undefined) {
      throw new ConfigError(
        `--host ${config.host} with --token-file but without TLS would send bearer tokens in clear over the network. ` +
          'Configure --tls-cert and --tls-key, or pass --allow-insecure if a proxy in front terminates TLS.',
      );
    }
  }
  return config;
}

/** Loopback addresses and names; '0.0.0.0' and '::' (every interface) are not. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function parseValue(spec: OptionSpec, raw: string, source: string): unknown {
  const fail = (why: string) => new ConfigError(`${source}: ${why}, got "${raw}"`);
  switch (spec.kind) {
    case 'string':
      if (raw === '') throw fail('must not be empty');
      return raw;
    case 'file':
      return raw === '' ? undefined : raw;
    case 'list':
      return raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
    case 'port': {
      const port = Number(raw);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw fail('must be a port number 0-65535');
      return port;
    }
    case 'optional-port':
      return raw === '' || raw === 'off' ? undefined : parseValue({ ...spec, kind: 'port' }, raw, source);
    case 'int': {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 1) throw fail('must be a whole number >= 1');
      if (spec.max !== undefined && value > spec.max) throw fail(`must be a whole number from 1 to ${spec.max}`);
      return value;
    }
    case 'duration':
      return parseDuration(raw, fail);
    case 'boolean':
      if (['true', '1', 'yes'].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw fail('must be true or false');
    case 'enum': {
      const value = spec.values!.find((v) => v.toLowerCase() === raw.toLowerCase());
      if (value === undefined) throw fail(`must be one of ${spec.values!.join(', ')}`);
      return value;
    }
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `5m`, `12h`, `30d`; a bare number is milliseconds. */
export function parseDuration(raw: string, fail: (why: string) => Error = (why) => new ConfigError(why)): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match) throw fail('must be a duration such as 500ms, 30s, 5m, 12h or 30d');
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!);
}
