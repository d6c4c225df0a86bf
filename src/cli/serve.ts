/** `longrun serve`: the standalone server on SQLite or PostgreSQL, with graceful shutdown on SIGTERM/SIGINT. */
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { createLongrun } from '../app.js';
import type { Longrun } from '../longrun.js';
import { firstStopSignal } from './stop-signal.js';
import { startTraceExport } from './tracing.js';
import type { AuthOptions } from '../auth/authenticator.js';
import { TokenTable } from '../auth/tokens.js';
import { parseRetrySchedule } from '../callbacks/schedule.js';
import { CallbackSettings, parseEndpoints, readConfigFile, type CallbackOptions } from '../callbacks/settings.js';
import { ConfigError, loadConfig, OPTIONS, type ServerConfig } from '../config.js';
import { createServer, listen, logGrpcTo, shutdown, type ListenOptions } from '../grpc/server.js';
import type { HttpServer } from '../http/server.js';
import { createLogger, type Logger } from '../log.js';
import { OriginPolicy } from '../http/origin-policy.js';
import type { MetricsServer } from '../observe/metrics-server.js';
import { addSleeper } from '../sleeper/sleeper.js';
import { addBulkOperations } from '../bulk/bulk-operations.js';
import { addVision, VISION_PROTO_FILES } from '../vision/index.js';
import { listening } from './listen.js';

export const SERVE_FLAGS = Object.fromEntries(
  OPTIONS.flatMap((spec) => [
    [spec.flag, { type: spec.kind === 'boolean' ? 'boolean' : 'string' }],
    ...(spec.negation === undefined ? [] : [[spec.negation, { type: 'boolean' }]]),
  ]),
) as NonNullable<ParseArgsConfig['options']>;

export async function serve(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(flags, env);
  checkBrowserSafety(config);
  const auth = authOf(config);
  const listenOptions = listenOptionsOf(config);
  const logger = createLogger(config.logLevel, config.logFormat);
  logGrpcTo(logger);
  const traces = await startTraceExport(env, logger);
  const longrun = await createConfiguredLongrun(config, logger, { runner: !config.noRunner });
  const server = createServer();
  let metrics: MetricsServer | undefined;
  let port: number;
  let http: HttpServer | undefined;
  try {
    // Bound before the gRPC port, so a taken metrics port fails the start before anything is served.
    const metricsPort = config.metricsPort;
    if (metricsPort !== undefined) {
      longrun.metrics.collectProcessMetrics();
      metrics = await listening({ what: 'metrics', host: config.host, port: metricsPort, option: '--metrics-port' }, () =>
        longrun.serveMetrics({ host: config.host, port: metricsPort }),
      );
    }
    longrun.addToServer(server, { ...(auth !== undefined && { auth }) });
    port = await listening({ what: 'gRPC', host: config.host, port: config.port, option: '--port' }, () =>
      listen(server, config.host, config.port, listenOptions),
    );
    // Same host, same credentials, TLS when gRPC has it.
    const httpPort = config.httpPort;
    http =
      httpPort === undefined
        ? undefined
        : await listening({ what: 'HTTP', host: config.host, port: httpPort, option: '--http-port (or --http-port off)' }, () =>
            longrun.http.listen({
              host: config.host,
              port: httpPort,
              ...(listenOptions.tls !== undefined && { tls: listenOptions.tls }),
              ...(auth !== undefined && { auth }),
              retryAfterCapMs: config.httpRetryAfterCapMs,
              allowedHosts: config.httpAllowedHosts,
              corsOrigins: config.httpCorsOrigins,
            }),
          );
  } catch (error) {
    // Half started: close what did open (the other ports, the store) before the error is reported,
    // so the process exits instead of serving half of itself; the runner was never started.
    await shutdown(server, 0);
    await longrun.close(0);
    throw error;
  }
  // Listened for before anything says the process is ready: whoever reads that may signal at once.
  const stopSignal = firstStopSignal();
  longrun.start();
  const address = config.host.includes(':') ? `[${config.host}]:${port}` : `${config.host}:${port}`;
  process.stdout.write(`longrun listening on ${address}\n`);
  if (http !== undefined) process.stdout.write(`longrun http on ${http.url}\nlongrun console on ${http.url}/console/\n`);
  logger.info(
    {
      address,
      http: http?.url ?? 'off',
      database: redactUrl(config.databasePath),
      runner: !config.noRunner,
      tls: listenOptions.tls === undefined ? 'off' : listenOptions.tls.clientCa === undefined ? 'on' : 'mutual',
      tokens: auth?.tokens?.size ?? 0,
      callbacks: longrun.deliverer === undefined ? 'off' : config.noRunner ? 'accepted, sent by runners' : 'on',
    },
    'serving',
  );
  if (metrics !== undefined) {
    process.stdout.write(`longrun metrics on ${metrics.url}\n`);
    logger.info({ url: metrics.url }, 'serving metrics');
  }

  logger.info({ signal: await stopSignal }, 'shutting down');
  // Calls in flight and handlers share the grace period; leases of unfinished work are released.
  await Promise.all([shutdown(server, config.shutdownGraceMs), longrun.stop(config.shutdownGraceMs)]);
  await longrun.close();
  await traces?.shutdown();
  logger.info('stopped');
  return 0;
}

/** The Longrun of `serve` and `runner`: one configuration table for both. */
export async function createConfiguredLongrun(config: ServerConfig, logger: Logger, options: { runner: boolean }): Promise<Longrun> {
  const longrun = await createLongrun({
    databasePath: config.databasePath,
    pgSchema: config.pgSchema,
    pgPoolSize: config.pgPool,
    ...(config.pgListenUrl !== undefined && { pgListenUrl: config.pgListenUrl }),
    synchronous: config.synchronous,
    retentionMs: config.retentionMs,
    waitCapMs: config.waitCapMs,
    maxWaitsPerPrincipal: config.maxWaitsPerPrincipal,
    watchCapMs: config.watchCapMs,
    maxWatchesPerPrincipal: config.maxWatchesPerPrincipal,
    watchIntervalMs: config.watchIntervalMs,
    leaseMs: config.leaseMs,
    pollMs: config.pollMs,
    sweepIntervalMs: config.sweepIntervalMs,
    maxAttempts: config.maxAttempts,
    retry: { initialBackoffMs: config.retryBackoffMs, maxBackoffMs: config.retryMaxBackoffMs, multiplier: config.retryMultiplier },
    concurrencyPerKey: config.concurrencyPerKey,
    runner: options.runner,
    ...(config.enableVision && { protoFiles: VISION_PROTO_FILES }),
    ...(config.callbackSecretFile !== undefined && { callbacks: callbacksOf(config, config.callbackSecretFile) }),
    logger,
  });
  try {
    addBulkOperations(longrun);
    if (config.enableSleeper) addSleeper(longrun);
    if (config.enableVision) addVision(longrun, { storageRoot: config.storageRoot });
  } catch (error) {
    await longrun.close(0);
    throw error;
  }
  return longrun;
}

/** The callback files and lists, read and checked: a mistake in them is a configuration error (exit 2). */
function callbacksOf(config: ServerConfig, secretFile: string): CallbackOptions {
  try {
    const options: CallbackOptions = {
      secrets: [readConfigFile(secretFile, '--callback-secret-file')],
      allow: config.callbackAllow,
      attemptTimeoutMs: config.callbackTimeoutMs,
      maxPerReceiver: config.callbackMaxPerReceiver,
      ...(config.callbackRetry !== undefined && { retrySchedule: parseRetrySchedule(config.callbackRetry) }),
      ...(config.callbackEndpointsFile !== undefined && {
        endpoints: parseEndpoints(readConfigFile(config.callbackEndpointsFile, '--callback-endpoints-file'), `--callback-endpoints-file ${config.callbackEndpointsFile}`),
      }),
    };
    new CallbackSettings(options); // checks secrets, allow-list and endpoints now, as configuration errors
    return options;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/** A malformed allowed host or CORS origin is a configuration error (exit 2), found before anything starts. */
function checkBrowserSafety(config: ServerConfig): void {
  for (const [flag, options] of [
    ['--http-allowed-hosts', { allowedHosts: config.httpAllowedHosts }],
    ['--http-cors-origins', { corsOrigins: config.httpCorsOrigins }],
  ] as const) {
    try {
      new OriginPolicy(options);
    } catch (error) {
      throw new ConfigError(`${flag}: ${(error as Error).message}`);
    }
  }
}

function authOf(config: ServerConfig): AuthOptions | undefined {
  if (config.tokenFile === undefined && config.tlsClientCa === undefined) return undefined;
  return {
    ...(config.tokenFile !== undefined && { tokens: TokenTable.load(config.tokenFile) }),
    clientCertificates: config.tlsClientCa !== undefined,
    admins: config.admins,
  };
}

function listenOptionsOf(config: ServerConfig): ListenOptions {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return {};
  return {
    tls: {
      cert: readPem(config.tlsCert, '--tls-cert'),
      key: readPem(config.tlsKey, '--tls-key'),
      ...(config.tlsClientCa !== undefined && { clientCa: readPem(config.tlsClientCa, '--tls-client-ca') }),
    },
  };
}

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${option} ${path}: ${(error as Error).message}`);
  }
}

/** A database URL without its password, for logs. */
export function redactUrl(database: string): string {
  if (!/^postgres(ql)?:\/\//i.test(database)) return database;
  try {
    const url = new URL(database);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
