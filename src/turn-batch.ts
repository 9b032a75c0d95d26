/**
 * Items added under one key within one turn of the event loop (or within `windowMs` of the first),
 * handed on together at its end (or at `flush`): a server refusing 12 connections at once makes one
 * line, not 12.
 */
export class TurnBatch<T> {
  private pending: { key: string; items: T[]; cancel: () => void } | undefined;

  constructor(
    private readonly handOn: (items: T[]) => void,
    private readonly windowMs = 0,
  ) {}

  /** Adds `item`; the items under another key are handed on first. */
  add(key: string, item: T): void {
    if (this.pending?.key !== key) this.flush();
    this.pending ??= { key, items: [], cancel: this.schedule(() => this.flush()) };
    this.pending.items.push(item);
  }

  /** Hands on what is pending now. */
  flush(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    pending.cancel();
    this.handOn(pending.items);
  }

  /** Runs `flush` at the end of the turn or the window; returns what cancels it. */
  private schedule(flush: () => void): () => void {
    if (this.windowMs === 0) {
      const immediate = setImmediate(flush);
      return () => clearImmediate(immediate);
    }
    const timeout = setTimeout(flush, this.windowMs);
    return () => clearTimeout(timeout);
  }
}
