/**
 * More connections for a download that is already running: `rangeget -j` hands the connections of
 * a finished download to the ones still running, so the last file of a list is not fetched with a
 * fraction of -n. Connections given before the download can use them wait for it.
 */
export class ConnectionGrant {
  private total = 0;
  private pending = 0;
  private listener: ((extra: number) => void) | undefined;

  /** Gives the download `extra` more connections (it stops at 64 in all). */
  give(extra: number): void {
    this.total += extra;
    if (this.listener) this.listener(extra);
    else this.pending += extra;
  }

  /** Connections given so far, taken or not: what the download holds beyond its own. */
  get given(): number {
    return this.total;
  }

  /** For the download: `listener` takes what is given from now on, and at once what was given before; undefined stops taking. */
  take(listener: ((extra: number) => void) | undefined): void {
    this.listener = listener;
    if (!listener || this.pending === 0) return;
    const extra = this.pending;
    this.pending = 0;
    listener(extra);
  }
}
