/**
 * WaitOperation's waiters and WatchOperation's watchers, woken by the store's change feed: an
 * operation finished or was deleted (waiters), or changed in any way (watchers), in this process
 * or any other on the store, or the feed may have missed changes (`resync`: everyone re-reads).
 * Listeners are kept per operation name, so 10,000 waiters cost a map entry each and a completion
 * touches only its own. Nothing here is told by the code that writes: only the store's feed.
 */
import type { ChangeFeed } from '../store/types.js';

export type Listener = () => void;

export class OperationEvents {
  private readonly doneListeners = new Map<string, Set<Listener>>();
  /** Kept until unsubscribed (a watcher hears every change), unlike the once-only done listeners. */
  private readonly changeListeners = new Map<string, Set<Listener>>();
  private readonly unsubscribe: () => void;

  constructor(feed: ChangeFeed) {
    this.unsubscribe = feed.subscribe((change) => {
      if (change.kind === 'resync') {
        this.wakeAll();
        return;
      }
      if (change.kind === 'available') return;
      if (change.kind === 'finished' || change.kind === 'deleted') this.wake(change.name);
      this.tell(change.name);
    });
  }

  /** Calls `listener` whenever `name` may have changed (progress, metadata, state); returns the unsubscribe function. */
  onChange(name: string, listener: Listener): () => void {
    let listeners = this.changeListeners.get(name);
    if (listeners === undefined) {
      listeners = new Set();
      this.changeListeners.set(name, listeners);
    }
    listeners.add(listener);
    return () => {
      const current = this.changeListeners.get(name);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.changeListeners.delete(name);
    };
  }

  watchingCount(): number {
    let count = 0;
    for (const listeners of this.changeListeners.values()) count += listeners.size;
    return count;
  }

  /** Calls `listener` once when `name` may have finished; returns the unsubscribe function. */
  onceDone(name: string, listener: Listener): () => void {
    let listeners = this.doneListeners.get(name);
    if (listeners === undefined) {
      listeners = new Set();
      this.doneListeners.set(name, listeners);
    }
    listeners.add(listener);
    return () => {
      const current = this.doneListeners.get(name);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.doneListeners.delete(name);
    };
  }

  /** Set by releaseWaiters: waiters return what they find instead of waiting again. */
  stopped = false;

  /** Wakes every waiter for good (shutdown): each returns the state it finds. */
  releaseWaiters(): void {
    this.stopped = true;
    this.wakeAll();
  }

  /** Changes may have been missed: every waiter re-reads its operation. */
  private wakeAll(): void {
    for (const name of [...this.doneListeners.keys()]) this.wake(name);
    for (const name of [...this.changeListeners.keys()]) this.tell(name);
  }

  private tell(name: string): void {
    const listeners = this.changeListeners.get(name);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) listener();
  }

  waitingCount(): number {
    let count = 0;
    for (const listeners of this.doneListeners.values()) count += listeners.size;
    return count;
  }

  close(): void {
    this.unsubscribe();
    this.releaseWaiters();
  }

  private wake(name: string): void {
    const listeners = this.doneListeners.get(name);
    if (listeners === undefined) return;
    this.doneListeners.delete(name);
    for (const listener of listeners) listener();
  }
}
