/**
 * Deletes expired operations in small batches, yielding to the event loop between batches so a
 * large backlog never holds the store (or requests) for long.
 */
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { OperationStore } from '../store/types.js';

export const SWEEP_BATCH_SIZE = 500;

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
      for (;;) {
        const deleted = await this.store.sweepExpired(this.clock.now(), SWEEP_BATCH_SIZE);
        total += deleted;
        if (deleted < SWEEP_BATCH_SIZE) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (total > 0) this.logger.info({ deleted: total }, 'expired operations swept');
    } catch (error) {
      this.logger.error({ err: error }, 'sweeping expired operations failed; will retry');
    }
    return total;
  }
}
