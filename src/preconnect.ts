import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

type Connector = buildConnector.connector;
type Target = buildConnector.Options;
/** undici's connector returns the socket it opens (lib/core/connect.js), though its type says void. */
export type OpeningConnector = (...args: Parameters<Connector>) => Socket | undefined;
const ENDED = 'the download ended';

/**
 * Connections opened while the planner's HEAD is under way, for the range requests that follow it.
 * undici closes the HEAD's connection after it (a server may send a body after a HEAD), so each
 * range request would otherwise start with a TCP handshake (and a TLS one) of its own: a round trip
 * or two, on a distant link, between the HEAD's answer and the first byte of the file.
 *
 * They open right after the HEAD's own connection, so that a server with few workers (Apache's
 * prefork, say, which holds one per connection) takes the HEAD first, not idle connections that
 * wait for it. A redirect to another server moves them there (the HEAD's next connection is to it).
 * Until `serve` they are only opened: the HEAD, its redirects and a probe connect as usual.
 */
export class WarmConnections {
  private readonly sockets = new Map<string, Promise<Socket | undefined>[]>();
  /** How many to open next to each server the plan's requests connect to. */
  private count = 0;
  private serving = false;
  /** Connections still opening, warm or not: see `end`. */
  private readonly opening = new Set<Socket>();
  private ended = false;

  constructor(private readonly base: Connector) {}

  /** undici's `connect`: a warm connection to the same server if one is left, else a new one. */
  readonly connect: Connector = (target, callback) => {
    const key = keyOf(target);
    const warm = this.serving ? this.sockets.get(key)?.shift() : undefined;
    if (warm) {
      void warm.then((socket) => (socket && isOpen(socket) ? callback(null, socket) : this.connectTracked(target, callback)));
      return;
    }
    this.connectTracked(target, callback);
    if (!this.serving && this.count > 0 && !this.sockets.has(key)) this.openNext(key, target);
  };

  /**
   * Closes every connection no request took, and gives up the ones still opening: a server, or a
   * firewall, that drops the handshakes beyond its limit would otherwise keep the process alive
   * until the connect timeout (--timeout) after the download is done.
   */
  end(): void {
    this.ended = true;
    this.close();
    for (const socket of this.opening) socket.destroy(new Error(ENDED));
  }

  private connectTracked(target: Target, callback: buildConnector.Callback): void {
    // undici opens a connection again for a request still queued, an aborted one too.
    if (this.ended) return callback(new Error(ENDED), null);
    const socket = (this.base as OpeningConnector)(target, callback);
    if (!socket) return;
    const opened = () => this.opening.delete(socket);
    this.opening.add(socket);
    socket.once('connect', opened).once('close', opened);
  }

  /** Opens `count` connections to the server of each of the plan's next requests, right after that request's own. */
  open(count: number): void {
    this.count = count;
  }

  /** Opens them to `target`, and closes those to the server before it, which redirected here. */
  private openNext(key: string, target: Target): void {
    this.close();
    const list: Promise<Socket | undefined>[] = [];
    this.sockets.set(key, list);
    for (let i = 0; i < this.count; i++) {
      // A connection that fails to open is no error yet: a request that needs it connects anew.
      list.push(new Promise((resolve) => this.connectTracked(target, (err, socket) => resolve(err ? undefined : (socket as Socket)))));
    }
  }

  /** Hands up to `count` warm connections to `url`'s server to the requests from now on, and closes the others. */
  serve(url: string, count: number): void {
    const key = keyOf(targetOf(new URL(url)));
    for (const [other, list] of this.sockets) closeAll(other === key ? list.slice(count) : list);
    const kept = this.sockets.get(key)?.slice(0, count);
    this.sockets.clear();
    if (kept) this.sockets.set(key, kept);
    this.serving = true;
  }

  /** Closes every connection no request took. */
  close(): void {
    for (const list of this.sockets.values()) closeAll(list);
    this.sockets.clear();
  }
}

/** The fields undici's client connects with, from its origin (an IPv6 address without its brackets). */
function targetOf(url: URL): Target {
  return { protocol: url.protocol, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), host: url.host, port: url.port };
}

function keyOf({ protocol, hostname, port }: Target): string {
  return `${protocol}//${hostname}:${port}`;
}

function isOpen(socket: Socket): boolean {
  return !socket.destroyed && socket.readyState === 'open';
}

function closeAll(list: Promise<Socket | undefined>[]): void {
  for (const warm of list) void warm.then((socket) => socket?.destroy());
}
