import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkError, UsageError } from '../src/errors.js';
import { serveFile } from '../src/local-server.js';
import { hasOpenssl, useCertificates } from './support/certificates.js';
import { MiB, useDownloads } from './support/harness.js';
import { startProxy } from './support/proxy.js';
import { sha256, testData } from './support/test-server.js';

const { get, outputSha, expectFiles, dir } = useDownloads();
const data = testData(MiB);

describe.skipIf(!hasOpenssl)(`TLS${hasOpenssl ? '' : ' (skipped: openssl is not installed to make a test certificate)'}`, () => {
  let server: Server;
  let url: string;
  let certPem: string;
  /** Whether each request came on a resumed TLS session. */
  const resumed: boolean[] = [];
  const certificates = useCertificates(['server']);

  beforeAll(async () => {
    const { key, cert } = certificates()[0]!;
    certPem = cert;
    server = createServer({ key, cert }, (req, res) => {
      resumed.push((req.socket as TLSSocket).isSessionReused());
      serveFile(req, res, { data, etag: '"tls-1"' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/secure.bin`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('verifies certificates by default and fails fast on a self-signed one', async () => {
    const started = performance.now();
    const err = await get(url, { retries: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/self[- ]signed|certificate/i);
    expect((err as Error).message).toMatch(/; to trust it, name its CA with --ca-cert FILE \(or skip the check with --insecure\)$/);
    expect(performance.now() - started).toBeLessThan(2000);
    await expectFiles();
  });

  it('downloads with --insecure', async () => {
    await get(url, { insecure: true, connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
  });

  it('downloads with --ca-cert naming the private CA', async () => {
    const caPath = join(dir(), 'ca.pem');
    await writeFile(caPath, certPem);
    await get(url, { caCert: caPath, connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
  });

  it('trusts --ca-cert through a proxy tunnel too', async () => {
    const caPath = join(dir(), 'ca.pem');
    await writeFile(caPath, certPem);
    const proxy = await startProxy();
    try {
      await get(url, { caCert: caPath, connections: 4, proxy: proxy.url });
      expect(await outputSha()).toBe(sha256(data));
      expect(proxy.tunnels.length).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('resumes the TLS sessions of earlier downloads under the same trust, never an unverified one', async () => {
    const caPath = join(dir(), 'ca.pem');
    await writeFile(caPath, certPem);
    await get(url, { insecure: true, connections: 2 });
    await expect(get(url, { connections: 2, overwrite: true })).rejects.toThrow(/self[- ]signed/);
    await get(url, { caCert: caPath, connections: 2, overwrite: true });
    resumed.length = 0;
    await get(url, { caCert: caPath, connections: 2, overwrite: true });
    expect(await outputSha()).toBe(sha256(data));
    expect(resumed).toContain(true);
  });

  it('refuses a --ca-cert that is not a certificate', async () => {
    await expect(get(url, { caCert: join(dir(), 'missing.pem') })).rejects.toThrow(UsageError);
    const garbled = join(dir(), 'garbled.pem');
    await writeFile(garbled, '-----BEGIN CERTIFICATE-----\nZm9vYmFy\n-----END CERTIFICATE-----\n');
    await expect(get(url, { caCert: garbled })).rejects.toThrow(/--ca-cert .*garbled\.pem: its first certificate cannot be read/);
  });
});
