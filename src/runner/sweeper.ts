/**
 * Deletes expired operations in small batches, yielding to the event loop between batches so a
 * large backlog never holds the store (or requests) for long.
 *
 * A batch is bounded in time, not only in rows: the same 500 deletions take ~2 ms when SQLite's
 * pages are cached and 25-190 ms right after a restart, with every request waiting behind them.
 * So the batch size adapts: it halves when a batch overruns SWEEP_BATCH_TARGET_MS and doubles when
 * one takes under half of it.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { OperationStore } from '../store/types.js';

/** First batch of a pass (rows); later ones adapt between the MIN and MAX below. */
export const SWEEP_BATCH_SIZE = 100;
export const SWEEP_BATCH_MIN = 10;
export const SWEEP_BATCH_MAX = 5000;
/** How long one batch may hold the event loop (and the write lock). */
export const SWEEP_BATCH_TARGET_MS = 10;

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(
    private readonly store: OperationStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One full pass; returns how many operations were deleted. Concurrent calls share the pass. */
  sweep(): Promise<number> {
    this.sweeping ??= this.pass().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async pass(): Promise<number> {
    let total = 0;
    try {
      let batch = SWEEP_BATCH_SIZE;
      for (;;) {
        const start = performance.now();
        const deleted = await this.store.sweepExpired(this.clock.now(), batch);
        const elapsed = performance.now() - start;
        total += deleted;
        if (deleted < batch) break;
        if (elapsed > SWEEP_BATCH_TARGET_MS) batch = Math.max(SWEEP_BATCH_MIN, Math.floor(batch / 2));
        else if (elapsed < SWEEP_BATCH_TARGET_MS / 2) batch = Math.min(SWEEP_BATCH_MAX, batch * 2);
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (total > 0) this.logger.info({ deleted: total }, 'expired operations swept');
    } catch (error) {
      this.logger.error({ err: error }, 'sweeping expired operations failed; will retry');
    }
    return total;
  }
}
