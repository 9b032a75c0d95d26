import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TestProxy {
  url: string;
  /** `host:port` of every tunnel opened through the proxy. */
  tunnels: string[];
  close(): Promise<void>;
}

/** A minimal HTTP proxy on 127.0.0.1 that tunnels CONNECT requests (what undici's ProxyAgent sends). */
export async function startProxy(): Promise<TestProxy> {
  const proxy = new Tunnels();
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const [host, port] = req.url!.split(':');
    proxy.open(client, host!, Number(port), () => client.write('HTTP/1.1 200 Connection Established\r\n\r\n'), head);
  });
  return proxy.listen(server, 'http');
}

/** A minimal SOCKS5 proxy on 127.0.0.1: no authentication, CONNECT to an IPv4 address or a host name. */
export async function startSocksProxy(): Promise<TestProxy> {
  const proxy = new Tunnels();
  const server = createServer((client) => {
    client.once('data', (greeting: Buffer) => {
      if (greeting[0] !== 5) return client.destroy();
      client.write(Buffer.from([5, 0]));
      client.once('data', (request: Buffer) => {
        const target = socksTarget(request);
        if (!target) return client.destroy();
        proxy.open(client, target.host, target.port, () => client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0])));
      });
    });
  });
  return proxy.listen(server, 'socks5');
}

/** Host and port of a SOCKS5 CONNECT request. */
function socksTarget(request: Buffer): { host: string; port: number } | undefined {
  if (request[1] !== 1) return undefined;
  if (request[3] === 1) return { host: [...request.subarray(4, 8)].join('.'), port: request.readUInt16BE(8) };
  if (request[3] !== 3) return undefined;
  const length = request[4]!;
  return { host: request.subarray(5, 5 + length).toString(), port: request.readUInt16BE(5 + length) };
}

/** The tunnels of one proxy: opened to their targets, recorded, all closed with the server. */
class Tunnels {
  readonly tunnels: string[] = [];
  private readonly sockets = new Set<Socket>();

  open(client: Socket, host: string, port: number, established: () => void, head?: Buffer): void {
    this.tunnels.push(`${host}:${port}`);
    const upstream = connect(port, host, () => {
      established();
      if (head) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => this.sockets.delete(socket));
    }
  }

  async listen(server: Server, scheme: string): Promise<TestProxy> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
      tunnels: this.tunnels,
      close: () => new Promise((resolve) => {
        for (const socket of this.sockets) socket.destroy();
        server.close(() => resolve());
      }),
    };
  }
}
