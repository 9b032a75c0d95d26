import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that makes a loopback server look distant: every packet waits half
 * `roundTripMs` each way, and a new connection's first bytes wait one round trip more, as TCP's
 * handshake would make them (the client's connect itself completes at once). These machines'
 * kernels have no `netem` to add delay.
 */
export async function startLatencyProxy(target: string, roundTripMs: number): Promise<{ url: string; stop(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    relay(client, upstream, roundTripMs / 2, performance.now() + roundTripMs * 1.5);
    relay(upstream, client, roundTripMs / 2, 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Passes `from`'s bytes, and then its end, to `to` `delayMs` later, in order, none before `earliest`. */
function relay(from: Socket, to: Socket, delayMs: number, earliest: number): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) {
      const { chunk } = queue.shift()!;
      if (chunk) to.write(chunk);
      else to.end();
    }
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
  };
  const add = (chunk: Buffer | null) => {
    const due = Math.max(performance.now() + delayMs, earliest, queue.at(-1)?.due ?? 0);
    queue.push({ due, chunk });
    timer ??= setTimeout(flush, due - performance.now());
  };
  let ended = false;
  const end = () => {
    if (!ended) add(null);
    ended = true;
  };
  from.on('data', add).on('end', end).on('close', end).on('error', end);
  to.on('error', () => from.destroy());
}
