/**
 * What longrun tells its operators: one place per event that writes both the log line and the
 * metric, so the two never disagree. Components call these; none of them logs lifecycle events
 * or touches metrics on its own.
 *
 * Only names, methods, codes, attempts, durations and principals are recorded: never request or
 * response payloads, metadata messages, headers or tokens.
 */
import { Code, codeNameOf } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

export interface RpcRecord {
  /** Full gRPC method, `/package.Service/Method`. */
  method: string;
  code: number;
  durationMs: number;
  principal?: string;
  operation?: string;
}

/** The name of a google.rpc.Code number, as gRPC tools print it (`NOT_FOUND`); the number itself when it is no code. */
export function codeName(code: number): string {
  return codeNameOf(code) ?? String(code);
}

export class Telemetry {
  constructor(
    readonly logger: Logger,
    readonly metrics: Metrics,
  ) {}

  rpc({ method, code, durationMs, principal, operation }: RpcRecord): void {
    const name = codeName(code);
    this.metrics.rpcs.inc({ method, code: name });
    this.metrics.rpcDuration.observe({ method }, durationMs / 1000);
    this.logger.info(
      {
        rpc: method,
        code: name,
        durationMs: Math.round(durationMs * 100) / 100,
        ...(principal !== undefined && { principal }),
        ...(operation !== undefined && { operation }),
      },
      'rpc',
    );
  }

  created(operation: string, method: string, owner: string): void {
    this.metrics.created.inc({ method });
    this.logger.info({ operation, method, principal: owner }, 'operation created');
  }

  /** `afterRetry`: the previous run failed and this is its scheduled retry (else an attempt > 1 follows a lost lease). */
  started(operation: string, method: string, attempt: number, afterRetry = false): void {
    if (attempt > 1 && !afterRetry) {
      // Claimed again: the previous run's lease ran out before it finished.
      this.metrics.reruns.inc({ method });
      this.metrics.leaseExpirations.inc({ outcome: 'rerun' });
      this.logger.info({ operation, method, attempt }, 'operation retried');
    }
    this.logger.info({ operation, method, attempt }, 'operation started');
  }

  /** Debug only: handlers may report progress many times a second. */
  progress(operation: string, percent: number): void {
    this.logger.debug({ operation, percent }, 'operation progress');
  }

  /** A running operation's cancellation was requested; its handler is being stopped. */
  cancelRequested(operation: string): void {
    this.logger.info({ operation }, 'operation cancellation requested');
  }

  /** The operation ended with a response (`code` OK) or an error; `attempt` 0 when no run started. */
  done(operation: string, method: string, code: number, attempt: number): void {
    const name = codeName(code);
    this.metrics.finished.inc({ method, code: name });
    if (code === Code.CANCELLED) this.logger.info({ operation, method, attempt }, 'operation cancelled');
    else this.logger.info({ operation, method, code: name, attempt }, 'operation done');
  }

  /** A run failed with a retryable `code`; attempt `attempt + 1` is due in `delayMs`. */
  retryScheduled(operation: string, method: string, attempt: number, code: number, delayMs: number): void {
    this.metrics.retries.inc({ method, code: codeName(code) });
    this.logger.info({ operation, method, attempt, code: codeName(code), retryInMs: delayMs }, 'operation attempt failed; retry scheduled');
  }

  /** Ended DEADLINE_EXCEEDED without starting: its start deadline passed. */
  startDeadlineExceeded(operation: string, method: string): void {
    this.metrics.startDeadlines.inc({ method });
    this.metrics.finished.inc({ method, code: codeName(Code.DEADLINE_EXCEEDED) });
    this.logger.info({ operation, method }, 'operation not started by its start deadline');
  }

  /** Ended ABORTED: its last attempt's lease ran out. */
  abandoned(operation: string, method: string, attempts: number): void {
    this.metrics.leaseExpirations.inc({ outcome: 'aborted' });
    this.metrics.finished.inc({ method, code: codeName(Code.ABORTED) });
    this.logger.warn({ operation, method, attempts }, 'operation aborted after its last attempt');
  }

  /** This runner's lease was lost while its handler ran; whatever the handler returns is discarded. */
  leaseLost(operation: string, method: string, attempt: number): void {
    this.metrics.leasesLost.inc({ method });
    this.logger.warn({ operation, method, attempt }, 'lease lost; outcome discarded');
  }
}
