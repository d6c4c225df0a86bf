/**
 * Recently read operations, for clients polling GetOperation: a hit costs a map lookup instead of
 * a database round trip. Kept correct with many writers by the change feed: any change naming an
 * operation drops it, and `resync` (changes may have been missed) drops everything.
 */
import type { OperationRecord } from '../domain/operation.js';
import type { ChangeFeed, StoreChange } from './types.js';

/** Bound on the cache; it is cleared whole when full (it refills from hot names). */
const MAX_ENTRIES = 10_000;

export class ReadCache {
  private readonly entries = new Map<string, OperationRecord>();
  private readonly unsubscribe: () => void;

  constructor(feed: ChangeFeed) {
    this.unsubscribe = feed.subscribe((change) => this.invalidate(change));
  }

  get(name: string): OperationRecord | undefined {
    return this.entries.get(name);
  }

  set(record: OperationRecord): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(record.name, record);
  }

  clear(): void {
    this.entries.clear();
  }

  close(): void {
    this.unsubscribe();
    this.entries.clear();
  }

  private invalidate(change: StoreChange): void {
    if (change.kind === 'resync') this.entries.clear();
    else if ('name' in change) this.entries.delete(change.name);
  }
}
