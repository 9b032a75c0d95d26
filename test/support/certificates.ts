import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

export interface Certificate {
  key: string;
  cert: string;
  certPath: string;
}

/** A self-signed certificate for 127.0.0.1, its own CA, made by openssl in `dir` (files `name`.key/.pem). */
export async function selfSignedCertificate(dir: string, name: string): Promise<Certificate> {
  const [keyPath, certPath] = [join(dir, `${name}.key`), join(dir, `${name}.pem`)];
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', keyPath, '-out', certPath, '-subj', `/CN=127.0.0.1/O=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8'), certPath };
}
