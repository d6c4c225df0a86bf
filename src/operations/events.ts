/**
 * In-process signals between the operations service and runners: an operation was created (wake
 * the runner now instead of at its next poll), its cancellation was requested (abort the handler
 * now), it finished (wake WaitOperation callers). Listeners are kept per operation name, so 10,000
 * waiters cost a map entry each and a completion touches only its own.
 */
export type Listener = () => void;

export class OperationEvents {
  private readonly doneListeners = new Map<string, Set<Listener>>();
  private readonly cancelListeners = new Set<(name: string) => void>();
  private readonly createdListeners = new Set<(method: string) => void>();

  /** Calls `listener` once when `name` finishes; returns the unsubscribe function. */
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

  emitDone(name: string): void {
    const listeners = this.doneListeners.get(name);
    if (listeners === undefined) return;
    this.doneListeners.delete(name);
    for (const listener of listeners) listener();
  }

  /** Wakes every waiter (shutdown): each returns the state it finds. */
  releaseWaiters(): void {
    for (const name of [...this.doneListeners.keys()]) this.emitDone(name);
  }

  waitingCount(): number {
    let count = 0;
    for (const listeners of this.doneListeners.values()) count += listeners.size;
    return count;
  }

  onCancelRequested(listener: (name: string) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  emitCancelRequested(name: string): void {
    for (const listener of this.cancelListeners) listener(name);
  }

  onCreated(listener: (method: string) => void): () => void {
    this.createdListeners.add(listener);
    return () => this.createdListeners.delete(listener);
  }

  emitCreated(method: string): void {
    for (const listener of this.createdListeners) listener(method);
  }
}
