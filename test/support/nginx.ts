import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The nginx binary, or undefined when it is not installed (`apt-get install nginx-light`). */
export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']
  .find((path) => spawnSync(path, ['-v']).status === 0);

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

/** Starts a private nginx on a free 127.0.0.1 port serving `root`, each connection capped at `limitRate` (e.g. '20m'). */
export async function startNginx(root: string, limitRate?: string): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed');
  const prefix = await mkdtemp(join(tmpdir(), 'rangeget-nginx-'));
  await mkdir(join(prefix, 'tmp'));
  const port = await freePort();
  await writeFile(join(prefix, 'nginx.conf'), config(prefix, root, port, limitRate));
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], { stdio: 'ignore' });
  await waitForPort(port, child);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      // A Ctrl-C reaches nginx too (same process group): it may be gone already.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

function config(prefix: string, root: string, port: number, limitRate: string | undefined): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${prefix}/tmp/${t};`).join('\n  ');
  return `daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  ${temp}
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { ${limitRate ? `limit_rate ${limitRate};` : ''} }
  }
}
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      socket.unref();
      setTimeout(() => socket.destroy(), 100);
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not start listening on port ${port}`);
}
