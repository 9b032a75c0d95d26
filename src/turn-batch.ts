/**
 * Items added under one key within one turn of the event loop, handed on together at its end (or
 * at `flush`): a server refusing 12 connections at once makes one line, not 12.
 */
export class TurnBatch<T> {
  private pending: { key: string; items: T[]; timer: NodeJS.Immediate } | undefined;

  constructor(private readonly handOn: (items: T[]) => void) {}

  /** Adds `item`; the items under another key are handed on first. */
  add(key: string, item: T): void {
    if (this.pending?.key !== key) this.flush();
    this.pending ??= { key, items: [], timer: setImmediate(() => this.flush()) };
    this.pending.items.push(item);
  }

  /** Hands on what is pending now. */
  flush(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearImmediate(pending.timer);
    this.handOn(pending.items);
  }
}
