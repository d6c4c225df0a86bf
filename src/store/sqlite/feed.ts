/**
 * The SQLite change feed. This process's writes are told to subscribers right after their commit;
 * other processes' writes are read from the `changes` log when PRAGMA data_version (a few µs; it
 * moves only when another connection commits) says there are some. A watch timer looks every
 * WATCH_INTERVAL_MS, so processes on one file wake each other within about that long.
 */
import { randomBytes } from 'node:crypto';
import { ChangeFanout } from '../feed.js';
import type { ChangeFeed, ChangeListener, StoreChange } from '../types.js';
import type { Statements } from './statements.js';

export const WATCH_INTERVAL_MS = 25;
/** Log rows older than this are trimmed; a process that falls further behind gets `resync`. */
const KEEP_CHANGES_MS = 60_000;
/** Trim once per this many logged writes, so the log stays small at no steady cost. */
const TRIM_EVERY_WRITES = 1000;

interface ChangeRow {
  seq: number;
  origin: string;
  kind: string;
  subject: string;
}

export class SqliteChangeFeed implements ChangeFeed {
  private readonly fanout = new ChangeFanout();
  private readonly origin = randomBytes(8).toString('hex');
  private lastSeq: number;
  private dataVersion: number;
  private writes = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `onForeignCommit`: another connection committed something (possibly outside longrun). */
  constructor(
    private readonly stmt: Statements,
    private readonly onForeignCommit: () => void,
  ) {
    this.lastSeq = (stmt.lastChange.get() as { last: number }).last;
    this.dataVersion = stmt.dataVersion.get() as number;
  }

  subscribe(listener: ChangeListener): () => void {
    this.startWatching();
    return this.fanout.subscribe(listener);
  }

  /** Appends `changes` to the log; call inside the write's transaction. */
  log(changes: readonly StoreChange[], now: number): void {
    for (const change of changes) {
      this.stmt.appendChange.run({ origin: this.origin, kind: change.kind, subject: subjectOf(change), at: now });
    }
    if (changes.length > 0 && ++this.writes % TRIM_EVERY_WRITES === 0) this.stmt.trimChanges.run({ before: now - KEEP_CHANGES_MS });
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
      const change = changeOf(row);
      if (change !== undefined) this.fanout.emit(change);
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

function changeOf(row: ChangeRow): StoreChange | undefined {
  switch (row.kind) {
    case 'available':
      return { kind: 'available', method: row.subject };
    case 'updated':
    case 'cancel_requested':
    case 'finished':
    case 'deleted':
      return { kind: row.kind, name: row.subject };
    case 'resync':
      return { kind: 'resync' };
    default:
      return undefined; // written by a newer version: ignore what we do not know
  }
}
