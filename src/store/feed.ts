/**
 * Fan-out of store changes to this process's subscribers, shared by the backends. A listener that
 * throws harms nobody (the others still hear the change) and is reported, never swallowed.
 */
import type { ChangeListener, StoreChange, SubscriberErrorHandler } from './types.js';

/** Without a logger of the app's: a process warning on stderr. */
export const warnSubscriberError: SubscriberErrorHandler = (error, change) =>
  process.emitWarning(`a store change-feed subscriber threw on a '${change.kind}' change: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);

export class ChangeFanout {
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly onSubscriberError: SubscriberErrorHandler = warnSubscriberError) {}

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: StoreChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        // A subscriber's bug must not stop delivery to the rest, nor fail the write that caused it.
        this.onSubscriberError(error, change);
      }
    }
  }

  emitAll(changes: readonly StoreChange[]): void {
    for (const change of changes) this.emit(change);
  }
}

/** One `available` per method and one change per (kind, name): what a transaction tells. */
export function distinctChanges(changes: readonly StoreChange[]): StoreChange[] {
  const seen = new Set<string>();
  return changes.filter((change) => {
    const key = `${change.kind}\0${'name' in change ? change.name : 'method' in change ? change.method : ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
