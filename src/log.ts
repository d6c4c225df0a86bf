/**
 * The logger every component takes: pino's interface, so an app can hand in its own pino (or
 * child) logger. Payloads and credentials are never logged; operation names and codes are.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug'>;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** JSON lines on stderr, so stdout stays free for a command's own output. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'longrun' } }, pino.destination(2));
}
