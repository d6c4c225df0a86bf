/**
 * `longrun runner`: runs handlers of operations other processes create, and serves no RPCs. One
 * line on stdout when it is ready; on SIGTERM/SIGINT it lets running handlers finish for
 * --shutdown-grace, gives the leases of the rest back, and exits 0.
 */
import { firstStopSignal } from './stop-signal.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import type { MetricsServer } from '../observe/metrics-server.js';
import { listening } from './listen.js';
import { startTraceExport } from './tracing.js';
import { createConfiguredLongrun, redactUrl } from './serve.js';

export async function runner(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(flags, env);
  const logger = createLogger(config.logLevel, config.logFormat);
  const traces = await startTraceExport(env, logger);
  const longrun = await createConfiguredLongrun(config, logger, { runner: true });
  // Listened for before anything says the process is ready: whoever reads that may signal at once.
  const stopSignal = firstStopSignal();
  if (config.metricsPort !== undefined) {
    longrun.metrics.collectProcessMetrics();
    const metricsPort = config.metricsPort;
    let metrics: MetricsServer;
    try {
      metrics = await listening({ what: 'metrics', host: config.host, port: metricsPort, option: '--metrics-port' }, () =>
        longrun.serveMetrics({ host: config.host, port: metricsPort }),
      );
    } catch (error) {
      // Nothing else is open but the store; the runner has not started.
      await longrun.close(0);
      throw error;
    }
    process.stdout.write(`longrun metrics on ${metrics.url}\n`);
  }
  longrun.start();
  const methods = longrun.methods.all().map((method) => method.info.path);
  process.stdout.write(`longrun runner ready (${longrun.runner.holder})\n`);
  logger.info({ database: redactUrl(config.databasePath), holder: longrun.runner.holder, methods }, 'running');

  const signal = await stopSignal;
  logger.info({ signal }, 'shutting down');
  await longrun.close(config.shutdownGraceMs);
  await traces?.shutdown();
  logger.info('stopped');
  return 0;
}
