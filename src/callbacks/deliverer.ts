/**
 * Sends completion callbacks from the store's outbox: claims due deliveries (leased and fenced,
 * so with many processes each is sent by one at a time), POSTs each signed per Standard Webhooks,
 * and records what came of it. Delivery is at least once; `webhook-id` (the delivery's id, the
 * same on every retry) is how a receiver drops duplicates.
 *
 * Outcomes: a 2xx is delivered; a 410 ends the delivery and every later one to that URL (gone);
 * anything else (network errors, timeouts, refusals by the address policy, redirects, which are
 * never followed, and every other status) is retried on the schedule, honouring Retry-After, and
 * is dead once the schedule is spent.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../observe/metrics.js';
import { startWebhookSpan } from '../observe/tracing.js';
import type { JsonCodec } from '../protos/json.js';
import type { ClaimedDelivery, DeliveryAttempt, OperationStore } from '../store/types.js';
import { callbackBody } from './payload.js';
import { nextDelay } from './schedule.js';
import { createSender, type SendResult } from './send.js';
import type { CallbackSettings } from './settings.js';
import { webhookHeaders } from './sign.js';

export interface DelivererOptions {
  /** Backstop: due deliveries are looked for at least this often (others' retries, an operator's retry). */
  pollMs: number;
  /** How long finished deliveries (delivered, dead, gone) are kept for inspection. */
  retentionMs: number;
  holder?: string;
}

/**
 * A claim lasts longer than an attempt plus its wait for a receiver slot (at most one attempt's
 * time: a claim brings fewer than the cap beyond it); after a crash, its deliveries are retried
 * this long later.
 */
function leaseMsOf(attemptTimeoutMs: number): number {
  return 3 * attemptTimeoutMs + 1000;
}
const SWEEP_EVERY_MS = 60_000;
const SKIP_SCAN_EVERY_MS = 100;
const SWEEP_BATCH = 500;

export class Deliverer {
  readonly holder: string;
  private readonly send: ReturnType<typeof createSender>;
  /** Attempts in flight, per URL. */
  private readonly inFlight = new Map<string, number>();
  private inFlightTotal = 0;
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private passing: Promise<void> | undefined;
  private again = false;
  private lastSkipScan = -Infinity;
  private stopped = true;

  constructor(
    private readonly deps: { store: OperationStore; settings: CallbackSettings; codec: () => JsonCodec; clock: Clock; logger: Logger; metrics: Metrics },
    private readonly options: DelivererOptions,
  ) {
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}:callbacks`;
    this.send = createSender(deps.settings.policy, deps.settings.network);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.deps.store.changes.subscribe((change) => {
      if (change.kind === 'finished' || change.kind === 'resync') this.wake();
    });
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    this.wake();
  }

  /** Stops claiming; attempts in flight get `graceMs` to end, and a lease left behind lets another process retry later. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    clearInterval(this.sweepTimer);
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all([this.passing, ...this.running]), grace]);
  }

  /** Looks for due deliveries now (coalesced: one pass at a time, and one more if woken meanwhile). */
  wake(): void {
    if (this.stopped) return;
    if (this.passing !== undefined) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.passing = this.pass().finally(() => {
      this.passing = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async pass(): Promise<void> {
    const { store, settings, clock, logger } = this.deps;
    try {
      for (;;) {
        if (this.stopped) return;
        const room = settings.maxInFlight - this.inFlightTotal;
        if (room <= 0) return; // an attempt ending wakes us
        const skipUrls = [...this.inFlight].filter(([, count]) => count >= settings.maxPerReceiver).map(([url]) => url);
        // Skipping receivers at their cap may scan every delivery due to them (a backlog for one
        // slow receiver): done at most every SKIP_SCAN_EVERY_MS, and an attempt ending makes room anyway.
        if (skipUrls.length > 0) {
          if (performance.now() - this.lastSkipScan < SKIP_SCAN_EVERY_MS) break;
          this.lastSkipScan = performance.now();
        }
        const claimed = await store.claimDeliveries({
          holder: this.holder,
          limit: Math.min(room, settings.maxPerReceiver),
          leaseMs: leaseMsOf(settings.attemptTimeoutMs),
          now: clock.now(),
          skipUrls,
        });
        for (const claim of claimed) this.startAttempt(claim);
        if (claimed.length === 0) break;
      }
      // A due one left unclaimed goes to a receiver at its cap (an attempt ending wakes us) or is
      // leased elsewhere: then only the backstop.
      const due = await store.nextDeliveryDue();
      const wait = due === undefined ? this.options.pollMs : due - clock.now();
      this.schedule(wait <= 0 ? Math.min(this.options.pollMs, SKIP_SCAN_EVERY_MS) : wait);
    } catch (error) {
      logger.warn({ err: error }, 'completion callbacks: the store could not be read; trying again');
      this.schedule(this.options.pollMs);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.max(0, Math.min(delayMs, this.options.pollMs)));
    this.timer.unref();
  }

  private startAttempt(claim: ClaimedDelivery): void {
    const url = claim.delivery.url;
    this.inFlight.set(url, (this.inFlight.get(url) ?? 0) + 1);
    this.inFlightTotal++;
    const attempt = this.waitForSlot(url)
      .then(() => this.attempt(claim))
      .catch((error: unknown) => this.deps.logger.error({ err: error, delivery: claim.delivery.id }, 'completion callback: attempt failed unexpectedly'))
      .finally(() => {
        const left = (this.inFlight.get(url) ?? 1) - 1;
        if (left === 0) this.inFlight.delete(url);
        else this.inFlight.set(url, left);
        this.inFlightTotal--;
        this.running.delete(attempt);
        this.releaseSlot(url);
        this.wake();
      });
    this.running.add(attempt);
  }

  /** Receivers' slots: one claim may bring a few more deliveries to a URL than its cap; they wait here. */
  private readonly sending = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  private waitForSlot(url: string): Promise<void> {
    const sending = this.sending.get(url) ?? 0;
    if (sending < this.deps.settings.maxPerReceiver) {
      this.sending.set(url, sending + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(url) ?? [];
      queue.push(resolve);
      this.waiting.set(url, queue);
    });
  }

  private releaseSlot(url: string): void {
    const next = this.waiting.get(url)?.shift();
    if (next !== undefined) return next(); // the slot passes on
    if (this.waiting.get(url)?.length === 0) this.waiting.delete(url);
    const sending = (this.sending.get(url) ?? 1) - 1;
    if (sending === 0) this.sending.delete(url);
    else this.sending.set(url, sending);
  }

  private async attempt({ delivery, lease }: ClaimedDelivery): Promise<void> {
    const { settings, clock, store, logger, metrics } = this.deps;
    const startedAt = clock.now();
    const body = callbackBody(delivery.operation, this.deps.codec(), new Date(startedAt));
    const attemptNumber = delivery.attempts + 1;
    // In the operation's trace; its traceparent tells the receiver where its own work belongs.
    const span = startWebhookSpan(delivery.operation, delivery.url, { id: delivery.id, attempt: attemptNumber });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'longrun-callbacks',
      ...span.headers(),
      ...webhookHeaders(settings.secrets, delivery.id, Math.floor(startedAt / 1000), body),
    };
    const started = performance.now();
    const result = await this.send({ url: delivery.url, headers, body, timeoutMs: settings.attemptTimeoutMs });
    span.end(result.kind === 'status' ? { status: result.status } : { error: result.error });
    const durationMs = Math.round(performance.now() - started);
    const now = clock.now();
    const outcome = this.outcomeOf(result, attemptNumber, now);
    const recorded = await store.finishAttempt(lease, outcome, now);
    const line = {
      delivery: delivery.id,
      operation: delivery.operation.name,
      receiver: originOf(delivery.url),
      attempt: attemptNumber,
      ...(result.kind === 'status' ? { status: result.status } : { error: result.error }),
      outcome: outcome.kind,
      durationMs,
      ...(outcome.kind === 'retry' && { nextAttemptAt: new Date(outcome.nextAttemptAt).toISOString() }),
      ...(!recorded && { fenced: true }),
    };
    const label = outcome.kind === 'delivered' ? 'sent' : outcome.kind === 'retry' ? 'failed' : outcome.kind;
    metrics.callbackAttempts.inc({ outcome: label });
    if (outcome.kind === 'delivered') {
      metrics.callbackLatency.observe(Math.max(0, now - delivery.createTime) / 1000);
      logger.info(line, 'completion callback delivered');
    } else if (outcome.kind === 'retry') {
      logger.info(line, 'completion callback attempt failed; will retry');
    } else {
      logger.warn(line, outcome.kind === 'dead' ? 'completion callback is dead: the retry schedule is spent' : 'completion callback receiver answered 410 Gone: nothing more is sent to it');
    }
  }

  private outcomeOf(result: SendResult, attemptsMade: number, now: number): DeliveryAttempt {
    if (result.kind === 'status' && result.status >= 200 && result.status < 300) return { kind: 'delivered', status: result.status };
    if (result.kind === 'status' && result.status === 410) return { kind: 'gone', status: result.status };
    const failure = result.kind === 'status' ? { status: result.status } : { error: result.error };
    const delay = nextDelay(this.deps.settings.retrySchedule, attemptsMade, result.kind === 'status' ? result.retryAfterMs : undefined);
    return delay === undefined ? { kind: 'dead', ...failure } : { kind: 'retry', nextAttemptAt: now + delay, ...failure };
  }

  private async sweep(): Promise<void> {
    try {
      const before = this.deps.clock.now() - this.options.retentionMs;
      while ((await this.deps.store.sweepDeliveries(before, SWEEP_BATCH)) === SWEEP_BATCH && !this.stopped);
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'completion callbacks: finished deliveries could not be swept; trying again later');
    }
  }
}

/** Logs name the receiver, never its path or query (they may carry tokens). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
