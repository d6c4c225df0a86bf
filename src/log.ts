/**
 * The logger every component takes: pino's interface, so an app can hand in its own pino (or
 * child) logger. Payloads and credentials are never logged; operation names and codes are.
 */
import { createRequire } from 'node:module';
import { pino, type Logger as PinoLogger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { context, trace } from '@opentelemetry/api';

export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug'>;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** `auto`: pretty on a terminal, JSON lines otherwise (files, pipes, log collectors). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Logs go to stderr, so stdout stays free for a command's own output. */
export function createLogger(level: LogLevel = 'info', format: LogFormat = 'auto'): Logger {
  // Lines written inside a span (a call, an attempt) carry its trace_id and span_id.
  const options = { level, base: { service: 'longrun' }, mixin: traceIds };
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  if (!pretty) return pino(options, pino.destination(2));
  // Loaded only when asked for: JSON is the production format. pino-pretty is CommonJS.
  const build = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pino(options, build({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, ignore: 'pid,hostname,service', singleLine: true }));
}

/** `trace_id` and `span_id` of the active span (none without an OpenTelemetry SDK, or outside a span). */
function traceIds(): { trace_id?: string; span_id?: string } {
  const active = trace.getSpanContext(context.active());
  return active === undefined ? {} : { trace_id: active.traceId, span_id: active.spanId };
}
