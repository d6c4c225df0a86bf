/**
 * Fan-out of store changes to this process's subscribers, shared by the backends. A listener that
 * throws is logged by nobody and harms nobody: the others still hear the change.
 */
import type { ChangeListener, StoreChange } from './types.js';

export class ChangeFanout {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: StoreChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A subscriber's bug must not stop delivery to the rest, nor fail the write that caused it.
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
