import type { OnReadOpts, Socket } from 'node:net';

/**
 * Socket read buffers, used again once every byte read into them is written. Node otherwise reads
 * each socket into a new 64 KiB buffer: fresh memory, so page faults and cache misses in the
 * kernel's copy, then garbage for the GC. Measured on 2 cores, 1 GiB from nginx unthrottled:
 * 4 connections 2.40 -> 1.91 s, 2.90 -> 2.38 CPU s, peak RSS 78 -> 68 MiB; 64 connections peak
 * RSS 99 -> 78 MiB.
 *
 * Safe by construction: a buffer goes back to its pool only once it is no longer read into and
 * written chunks of it add up to every byte read into it. Bytes that are never written (response headers, a body cut at a range's
 * end, a connection that fails, a copy made by a stream) keep that from happening, and the buffer
 * is left to the GC.
 */
const MIN_READ_BYTES = 64 * 1024;
/** Bytes per read while a socket's data comes in bursts (see burstyReads). */
const BURSTY_READ_BYTES = 16 * 1024;
/**
 * A socket that delivers this much without a pause of PAUSE_MS reads at full size from then on.
 * Twice the longest streak seen capped (nginx at 20 MiB/s, 16 connections, bursts 0.1 s apart):
 * while the event loop is busiest, in the first second, bursts follow each other without a pause.
 */
const STEADY_STREAK_BYTES = 16 * 2 ** 20;
const PAUSE_MS = 50;
const PAGE_BYTES = 4096;
/** Under --limit-rate, a read holds at most this long of a connection's share of the limit. */
const LIMITED_READ_SECONDS = 0.1;
/** Free buffers' bytes a pool keeps; more go to the GC. */
const MAX_FREE_BYTES = 16 * 2 ** 20;

/**
 * Bytes per socket read: larger with fewer connections, as each then carries more. Larger reads
 * cost fewer system calls and chunks, but raise peak memory, and with nginx capped on the same
 * machine they let the sockets' receive buffers grow (see docs/performance.md). Measured on 2
 * cores, 1 GiB from nginx unthrottled, interleaved: 4 connections with 512 KiB against 256 KiB,
 * 1.88-2.05 against 2.13-2.16 s and 1.80-1.97 against 1.98-2.08 CPU s (30 pairs; 1 MiB: 1.70 CPU
 * s but 87 MiB peak RSS against 74); 8 with 256 KiB against 128 KiB, the same time for 16 MiB more
 * RSS; 16 with 256 KiB against 64 KiB, 3.60 against 3.565 s capped.
 * Under --limit-rate reads are smaller (LIMITED_READ_SECONDS): the limiter waits after reads, so
 * each connection's last read goes unpaced, and 512 KiB reads ran 8 MiB at 2 MiB/s at 0.98-1.06 x
 * the limit (64 KiB: 0.94-1.008 x, 12 runs each).
 */
export function readBytesFor(connections = Infinity, limitRate?: number): number {
  const bySize = connections <= 4 ? 512 * 1024 : connections <= 8 ? 128 * 1024 : MIN_READ_BYTES;
  if (limitRate === undefined) return bySize;
  const paced = Math.floor((LIMITED_READ_SECONDS * limitRate) / connections / PAGE_BYTES) * PAGE_BYTES;
  return Math.min(bySize, Math.max(MIN_READ_BYTES, paced));
}

/** Small reads for a dispatcher's first sockets, while their data comes in bursts (see burstyReads). */
export interface BurstyReads {
  /** Bytes per read. */
  bytes: number;
  /** How many sockets start with them: those opened later read at full size from the start. */
  sockets: number;
}

/**
 * Small first reads for the first `connections + 1` sockets (the HEAD's and the first requests'),
 * where reads are 64 KiB; undefined where they are larger, or connections unlimited. Each of those
 * sockets reads 16 KiB at a time while its data comes in bursts with pauses between them, as from
 * a server that paces each connection, and until it is seen not to. On a path whose round trip is
 * shorter than a read (the same machine), Linux grows a socket's receive buffer to what one read
 * takes, and a paced nginx then pushes each 2 MiB burst through both ends' TCP work in one call,
 * and falls behind its own timers (docs/performance.md). 16 KiB reads keep the buffers small:
 * capped, 16 connections, 3.47 against 3.545 s (10 interleaved rounds). A socket that turns out
 * steady reads full size (see recyclingReads): small reads cost CPU, which a steady download is
 * short of (unthrottled on loopback, 16 connections, 2.3 -> 2.8 s with 16 KiB reads throughout,
 * 2.55 s with the switch). Sockets opened later (after steals, retries) gain nothing from it, and
 * starting them small raised the peak RSS of a 10 GiB download from 75 to 92-109 MiB.
 */
export function burstyReads(readBytes: number, connections: number | undefined): BurstyReads | undefined {
  if (readBytes > MIN_READ_BYTES || connections === undefined) return undefined;
  return { bytes: BURSTY_READ_BYTES, sockets: connections + 1 };
}

/** One dispatcher's free buffers, and how many it keeps. */
interface Pool {
  free: ArrayBuffer[];
  maxFree: number;
}

interface Use {
  /** Bytes read into the buffer. */
  read: number;
  /** Bytes of it written so far. */
  written: number;
  /** Its free end may still be read into: it cannot go back to the pool yet. */
  open: boolean;
  /** The pool it goes back to. */
  pool: Pool;
}

/** The buffers handed on to a socket's stream, until all their bytes are written. */
const inUse = new WeakMap<ArrayBuffer, Use>();

/**
 * net.connect's `onread` for one dispatcher's sockets: reads into the pool's buffers and hands
 * them to the socket's stream, as Node itself would. A read that leaves room for another in its
 * buffer has the next read go into the rest: a 64 KiB read into a 512 KiB buffer (as a socket's
 * first reads are) then costs neither a copy nor fresh memory (an 8 MiB download at 4
 * connections: 310 -> 292 ms). With `bursty`, the first sockets read `bursty.bytes` at a time
 * until one delivers STEADY_STREAK_BYTES without a pause of PAUSE_MS, then `readBytes`. The pool
 * goes with the dispatcher.
 */
export function recyclingReads(readBytes = MIN_READ_BYTES, bursty?: BurstyReads): OnReadOpts {
  const pool: Pool = { free: [], maxFree: Math.floor(MAX_FREE_BYTES / readBytes) };
  const steady = bursty ? steadiness(bursty.sockets) : () => true;
  // Node asks for the next buffer right after each read's callback, from the same socket.
  let rest: Buffer | undefined;
  const burstyBytes = bursty?.bytes ?? readBytes;
  let nextBytes = burstyBytes;
  return {
    buffer: () => {
      const next = rest ?? fromPool(pool, readBytes);
      rest = undefined;
      return next.length > nextBytes ? next.subarray(0, nextBytes) : next;
    },
    callback(this: Socket, bytes: number, buffer: Uint8Array): boolean {
      nextBytes = steady(this, bytes) ? readBytes : burstyBytes;
      const memory = buffer.buffer as ArrayBuffer;
      const end = buffer.byteOffset + bytes;
      const open = memory.byteLength - end >= Math.min(nextBytes, MIN_READ_BYTES);
      // A mostly empty buffer must not wait in memory: the bytes are copied out, the buffer read into again.
      if (!open && buffer.byteOffset === 0 && bytes < readBytes / 2) {
        pool.free.push(memory);
        return this.push(Buffer.from(buffer.subarray(0, bytes)));
      }
      let use = inUse.get(memory);
      if (!use) inUse.set(memory, (use = { read: 0, written: 0, open, pool }));
      use.read += bytes;
      use.open = open;
      if (open) rest = Buffer.from(memory, end);
      return this.push(Buffer.from(memory, buffer.byteOffset, bytes));
    },
  };
}

interface Streak {
  /** Bytes read since the socket last went PAUSE_MS or more without a read. */
  bytes: number;
  /** When it was last read (performance.now()). */
  readAt: number;
}

/**
 * Counts each socket's reads: whether it is steady, having delivered STEADY_STREAK_BYTES without a
 * pause, or having come after the first `burstySockets` sockets.
 */
function steadiness(burstySockets: number): (socket: object, bytes: number) => boolean {
  const streaks = new WeakMap<object, Streak | true>();
  let socketsLeft = burstySockets;
  return (socket, bytes) => {
    let streak = streaks.get(socket);
    if (streak === true) return true;
    const now = performance.now();
    if (!streak) {
      if (socketsLeft === 0) return markSteady(streaks, socket);
      socketsLeft--;
      streaks.set(socket, (streak = { bytes: 0, readAt: now }));
    }
    if (now - streak.readAt >= PAUSE_MS) streak.bytes = 0;
    streak.bytes += bytes;
    streak.readAt = now;
    return streak.bytes >= STEADY_STREAK_BYTES && markSteady(streaks, socket);
  };
}

function markSteady(streaks: WeakMap<object, Streak | true>, socket: object): true {
  streaks.set(socket, true);
  return true;
}

function fromPool(pool: Pool, readBytes: number): Buffer {
  const reused = pool.free.pop();
  return reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(readBytes);
}

/** Call once `chunk`'s bytes are written (or dropped on purpose): its read buffer is reused once all its bytes are. */
export function releaseReadBuffer(chunk: Buffer): void {
  const memory = chunk.buffer as ArrayBuffer;
  const use = inUse.get(memory);
  if (!use) return;
  use.written += chunk.length;
  if (use.open || use.written < use.read) return;
  inUse.delete(memory);
  if (use.written === use.read && use.pool.free.length < use.pool.maxFree) use.pool.free.push(memory);
}
