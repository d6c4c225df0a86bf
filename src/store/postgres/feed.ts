/**
 * The PostgreSQL change feed. This process's writes are told to subscribers right after their
 * commit; every process's writes arrive as NOTIFY on one dedicated session connection per process
 * (LISTEN cannot work through a transaction-mode pooler: `listenUrl` may point past it). When that
 * connection dies it is reopened with a backoff and re-LISTENed, and subscribers get `resync`,
 * since nothing is kept for a listener that was away. While the connection is down, subscribers
 * get `resync` every `pollMs` (the polling backstop: waiters and runners re-read), so a lost
 * notification delays a wake-up by at most that. A live session delivers every NOTIFY; a query
 * every few seconds on it finds a connection that died silently.
 */
import type pg from 'pg';
import { ChangeFanout } from '../feed.js';
import type { ChangeFeed, ChangeListener, StoreChange, SubscriberErrorHandler } from '../types.js';
import { LISTEN_APPLICATION_NAME, LONGRUN_TYPES, pgModule, quoteIdentifier } from './connection.js';
import { CHANGE_KINDS, channelOf, type ChangeKind } from './statements.js';

export interface ListenerEvents {
  /** The LISTEN connection failed or was closed by the server; it is being reopened. */
  listenerLost?(error: unknown): void;
  /** LISTEN is in place again after a loss. */
  listenerReconnected?(): void;
}

const RECONNECT_FIRST_MS = 50;
const RECONNECT_MAX_MS = 2000;

/** How often the LISTEN connection is checked with a query, to find one that died silently. */
const LISTENER_CHECK_MS = 5000;

export class PostgresChangeFeed implements ChangeFeed {
  private readonly fanout: ChangeFanout;
  private backstopTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private client: pg.Client | undefined;
  private closed = false;
  private starting: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private everConnected = false;

  constructor(
    private readonly options: { listenUrl: string; schema: string; origin: string; pollMs: number; events?: ListenerEvents; onSubscriberError?: SubscriberErrorHandler },
  ) {
    this.fanout = new ChangeFanout(options.onSubscriberError);
  }

  /** Opens the LISTEN connection; resolves once LISTEN is in place (or rejects with why not). */
  start(): Promise<void> {
    this.starting ??= this.connect();
    return this.starting;
  }

  subscribe(listener: ChangeListener): () => void {
    return this.fanout.subscribe(listener);
  }

  /** Tells this process's subscribers of its own committed write. */
  publish(changes: readonly StoreChange[]): void {
    this.fanout.emitAll(changes);
  }

  /** Whether the listener is connected, so that cached reads can be trusted. */
  get live(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.backstopTimer);
    clearInterval(this.checkTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new (pgModule().Client)({
      connectionString: this.options.listenUrl,
      application_name: LISTEN_APPLICATION_NAME,
      keepAlive: true,
      keepAliveInitialDelayMillis: LISTENER_CHECK_MS,
      types: LONGRUN_TYPES,
    });
    let settled = false;
    const lost = (error: unknown) => {
      if (!settled) return; // failures while connecting are thrown below
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.events?.listenerLost?.(error);
      this.startBackstop();
      this.scheduleReconnect(RECONNECT_FIRST_MS);
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('the LISTEN connection was closed')));
    client.on('notification', (message) => this.onNotification(message.channel, message.payload ?? ''));
    try {
      await client.connect();
      for (const kind of CHANGE_KINDS) await client.query(`LISTEN ${quoteIdentifier(channelOf(this.options.schema, kind))}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    settled = true;
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    clearInterval(this.backstopTimer);
    this.backstopTimer = undefined;
    clearInterval(this.checkTimer);
    this.checkTimer = setInterval(() => {
      if (this.client === client) client.query('SELECT 1').catch(lost);
    }, LISTENER_CHECK_MS);
    this.checkTimer.unref();
    if (this.everConnected) {
      this.options.events?.listenerReconnected?.();
      // Whatever was notified while we were away is gone: everyone re-reads.
      this.fanout.emit({ kind: 'resync' });
    }
    this.everConnected = true;
  }

  /** While nothing is heard, everyone re-reads every pollMs. */
  private startBackstop(): void {
    if (this.backstopTimer !== undefined) return;
    this.backstopTimer = setInterval(() => this.fanout.emit({ kind: 'resync' }), this.options.pollMs);
    this.backstopTimer.unref();
  }

  private scheduleReconnect(delayMs: number): void {
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((error: unknown) => {
        if (this.closed) return;
        this.options.events?.listenerLost?.(error);
        this.scheduleReconnect(Math.min(delayMs * 2, RECONNECT_MAX_MS));
      });
    }, delayMs);
    this.reconnectTimer.unref();
  }

  private onNotification(channel: string, payload: string): void {
    const kind = channel.slice(this.options.schema.length + 1) as ChangeKind;
    if (!CHANGE_KINDS.includes(kind)) return;
    const [origin, ...subjects] = payload.split('\n');
    if (origin === this.options.origin) return; // told at commit already
    if (subjects.length === 1 && subjects[0] === '*') {
      // Too many names for one payload: as good as a missed change.
      this.fanout.emit({ kind: 'resync' });
      return;
    }
    for (const subject of subjects) {
      this.fanout.emit(kind === 'available' ? { kind, method: subject } : { kind, name: subject });
    }
  }
}
