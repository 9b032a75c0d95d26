import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

export interface Certificate {
  key: string;
  cert: string;
  certPath: string;
}

/**
 * Self-signed certificates for 127.0.0.1, each its own CA, made by openssl once for the suite it is
 * called in, in a temporary directory removed after the suite; call the result to get them.
 */
export function useCertificates(names: string[]): () => Certificate[] {
  let dir = '';
  let made: Certificate[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rangeget-certs-'));
    made = await Promise.all(names.map((name) => selfSignedCertificate(dir, name)));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  return () => made;
}

async function selfSignedCertificate(dir: string, name: string): Promise<Certificate> {
  const [keyPath, certPath] = [join(dir, `${name}.key`), join(dir, `${name}.pem`)];
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', keyPath, '-out', certPath, '-subj', `/CN=127.0.0.1/O=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8'), certPath };
}
