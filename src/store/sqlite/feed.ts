/**
 * The SQLite change feed. This process's writes are told to subscribers right after their commit;
 * other processes' writes are read from the `changes` log when PRAGMA data_version (a few µs; it
 * moves only when another connection commits) says there are some. A watch timer looks every
 * WATCH_INTERVAL_MS, so processes on one file wake each other within about that long.
 */
import { randomBytes } from 'node:crypto';
import { ChangeFanout } from '../feed.js';
import type { ChangeFeed, ChangeListener, StoreChange, SubscriberErrorHandler } from '../types.js';
import type { Statements } from './statements.js';

export const WATCH_INTERVAL_MS = 25;
/** Log rows kept; a process that falls further behind (seconds of writes at full speed) gets `resync`. */
const KEEP_CHANGES = 10_000;
/** Trim once per this many logged writes, so the log stays small at no steady cost. */
const TRIM_EVERY_WRITES = 1000;

interface ChangeRow {
  seq: number;
  origin: string;
  kind: string;
  subject: string;
}

export class SqliteChangeFeed implements ChangeFeed {
  private readonly fanout: ChangeFanout;
  private readonly origin = randomBytes(8).toString('hex');
  private lastSeq: number;
  private dataVersion: number;
  private writes = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `onForeignCommit`: another connection committed something (possibly outside longrun). */
  constructor(
    private readonly stmt: Statements,
    private readonly onForeignCommit: () => void,
    onSubscriberError?: SubscriberErrorHandler,
  ) {
    this.fanout = new ChangeFanout(onSubscriberError);
    this.lastSeq = (stmt.lastChange.get() as { last: number }).last;
    this.dataVersion = stmt.dataVersion.get() as number;
  }

  subscribe(listener: ChangeListener): () => void {
    this.startWatching();
    return this.fanout.subscribe(listener);
  }

  /** Appends `changes` to the log, one row per kind with the names joined; call inside the write's transaction. */
  log(changes: readonly StoreChange[], now: number): void {
    const byKind = new Map<string, string[]>();
    for (const change of changes) {
      const subjects = byKind.get(change.kind) ?? [];
      subjects.push(subjectOf(change));
      byKind.set(change.kind, subjects);
    }
    for (const [kind, subjects] of byKind) {
      this.stmt.appendChange.run({ origin: this.origin, kind, subject: subjects.join('\n'), at: now });
    }
    if (byKind.size > 0 && ++this.writes % TRIM_EVERY_WRITES === 0) this.stmt.trimChanges.run({ keep: KEEP_CHANGES });
  }

  /** Tells this process's subscribers; call after the commit. */
  publish(changes: readonly StoreChange[]): void {
    this.fanout.emitAll(changes);
  }

  /** Reads what other processes committed since the last look and tells subscribers. Synchronous and cheap when nothing changed. */
  catchUp(): void {
    const version = this.stmt.dataVersion.get() as number;
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    this.onForeignCommit();
    const { first } = this.stmt.lastChange.get() as { first: number };
    const missed = first > this.lastSeq + 1 && this.lastSeq > 0;
    const rows = this.stmt.changesSince.all({ seq: this.lastSeq }) as ChangeRow[];
    if (rows.length > 0) this.lastSeq = rows[rows.length - 1]!.seq;
    if (missed) this.fanout.emit({ kind: 'resync' });
    for (const row of rows) {
      if (row.origin === this.origin) continue;
      for (const change of changesOf(row)) this.fanout.emit(change);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private startWatching(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      try {
        this.catchUp();
      } catch {
        // The file is briefly unreadable (or closed under us): the next tick looks again.
      }
    }, WATCH_INTERVAL_MS);
    this.timer.unref();
  }
}

function subjectOf(change: StoreChange): string {
  if (change.kind === 'available') return change.method;
  if (change.kind === 'resync') return '';
  return change.name;
}

function changesOf(row: ChangeRow): StoreChange[] {
  const subjects = row.subject.split('\n');
  switch (row.kind) {
    case 'available':
      return subjects.map((method) => ({ kind: 'available', method }));
    case 'updated':
    case 'cancel_requested':
    case 'finished':
    case 'deleted': {
      const kind = row.kind;
      return subjects.map((name) => ({ kind, name }));
    }
    case 'resync':
      return [{ kind: 'resync' }];
    default:
      return []; // written by a newer version: ignore what we do not know
  }
}
