import { execFile } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasOpenssl, useCertificates } from './support/certificates.js';

const project = fileURLToPath(new URL('..', import.meta.url));

describe.skipIf(!hasOpenssl)(`loadTrust${hasOpenssl ? '' : ' (skipped: openssl is not installed to make test certificates)'}`, () => {
  const servers: Server[] = [];
  /** Node's roots in the child (--use-openssl-ca with SSL_CERT_FILE), NODE_EXTRA_CA_CERTS, --ca-cert, and the CA that --ca-cert's file is renewed to. */
  const certificates = useCertificates(['root', 'extra', 'named', 'renewed']);

  beforeAll(async () => {
    for (const { key, cert } of certificates()) {
      const server = createServer({ key, cert }, (_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
    }
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  it("trusts Node's roots, NODE_EXTRA_CA_CERTS and the file's CA, in one context per file (downloads that start together too) made by Node's own method, made again once the file changes", async () => {
    const [root, extra, named, renewed] = certificates().map((c) => c.certPath) as [string, string, string, string];
    const path = join(dirname(named), 'ca-cert.pem');
    await copyFile(named, path);
    const script = [
      "import { copyFile } from 'node:fs/promises';",
      "import tls from 'node:tls';",
      "const { loadTrust } = await import('./dist/trust.js');",
      'const [path, renewed, ...ports] = process.argv.slice(1);',
      'const [trust, together] = await Promise.all([loadTrust(path), loadTrust(path)]);',
      'const verified = (port, secureContext) => new Promise((resolve) => {',
      "  const socket = tls.connect({ host: '127.0.0.1', port: Number(port), secureContext }, () => { resolve(socket.authorized); socket.end(); });",
      "  socket.on('error', (err) => resolve(err.code));",
      '});',
      'console.log(JSON.stringify({',
      '  trusted: await Promise.all(ports.map((port) => verified(port, trust))),',
      '  byDefault: await Promise.all(ports.map((port) => verified(port, tls.createSecureContext()))),',
      '  oneContext: together === trust && (await loadTrust(path)) === trust,',
      "  nativeMethod: typeof tls.createSecureContext().context.addCACert,",
      '  renewed: await copyFile(renewed, path).then(() => loadTrust(path)).then(async (next) => ({',
      '    newContext: next !== trust,',
      '    trusted: await Promise.all(ports.map((port) => verified(port, next))),',
      '  })),',
      '}));',
    ].join('\n');
    const ports = servers.map((server) => String((server.address() as AddressInfo).port));
    // Not spawnSync: the servers answer from this process.
    const run = await promisify(execFile)(process.execPath, ['--use-openssl-ca', '--input-type=module', '-e', script, path, renewed, ...ports], {
      cwd: project, encoding: 'utf8', env: { ...process.env, SSL_CERT_FILE: root, NODE_EXTRA_CA_CERTS: extra }, timeout: 20_000,
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      trusted: [true, true, true, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
      byDefault: [true, true, 'DEPTH_ZERO_SELF_SIGNED_CERT', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
      oneContext: true,
      nativeMethod: 'function',
      renewed: { newContext: true, trusted: [true, true, 'DEPTH_ZERO_SELF_SIGNED_CERT', true] },
    });
  });
});
