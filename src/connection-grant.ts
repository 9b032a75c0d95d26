/** Connections, and bytes per second of --limit-rate, passed on to a download. */
export interface Share {
  connections: number;
  bytesPerSecond: number;
}

/**
 * More connections (and rate, under a --limit-rate) for a download that is already running:
 * `rangeget -j` hands what a finished download had to the ones still running, so the last file of
 * a list is not fetched with a fraction of them. What is given before the download can use it waits
 * for it.
 */
export class ConnectionGrant {
  private readonly total: Share = { connections: 0, bytesPerSecond: 0 };
  private pending: Share = { connections: 0, bytesPerSecond: 0 };
  private listener: ((extra: Share) => void) | undefined;

  /** Gives the download more connections (it stops at 64 in all) and rate (ignored without a limit). */
  give(extra: Share): void {
    this.total.connections += extra.connections;
    this.total.bytesPerSecond += extra.bytesPerSecond;
    if (this.listener) this.listener(extra);
    else this.pending = { connections: this.pending.connections + extra.connections, bytesPerSecond: this.pending.bytesPerSecond + extra.bytesPerSecond };
  }

  /** Everything given so far, taken or not: what the download holds beyond its own share. */
  get given(): Share {
    return { ...this.total };
  }

  /** For the download: `listener` takes what is given from now on, and at once what was given before; undefined stops taking. */
  take(listener: ((extra: Share) => void) | undefined): void {
    this.listener = listener;
    if (!listener || (this.pending.connections === 0 && this.pending.bytesPerSecond === 0)) return;
    const extra = this.pending;
    this.pending = { connections: 0, bytesPerSecond: 0 };
    listener(extra);
  }
}
