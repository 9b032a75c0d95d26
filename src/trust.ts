import { readFile } from 'node:fs/promises';
import type { SecureContext } from 'node:tls';
import { UsageError } from './errors.js';

let made: { key: string; context: SecureContext } | undefined;

/**
 * The TLS context for `--ca-cert <path>`: the CAs Node trusts (its roots, and NODE_EXTRA_CA_CERTS,
 * which Node leaves out of a context given CAs) plus the file's; undefined (Node's default) without
 * it; a usage error when the file cannot be read or its first certificate is not valid. One context
 * serves every connection and download of the process: tls.connect given a `ca` list parses it
 * again for each connection, Node's ~150 roots included (40 ms of CPU each).
 */
export async function loadTrust(path: string | undefined): Promise<SecureContext | undefined> {
  if (path === undefined) return undefined;
  const pem = await readPem(path);
  if (pem === undefined) throw new UsageError(`--ca-cert ${path}: not a readable PEM certificate file`);
  await checkCertificate(pem, path);
  // Node has warned at its start if this one cannot be read.
  const extra = process.env.NODE_EXTRA_CA_CERTS ? await readPem(process.env.NODE_EXTRA_CA_CERTS) : undefined;
  const pems = extra === undefined ? [pem] : [extra, pem];
  const key = pems.join('\n');
  if (made?.key !== key) made = { key, context: await trustingContext(pems) };
  return made.context;
}

/** Node would skip a malformed certificate silently, and the servers it signed would fail their checks. */
async function checkCertificate(pem: string, path: string): Promise<void> {
  const { X509Certificate } = await import('node:crypto');
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new UsageError(`--ca-cert ${path}: its first certificate cannot be read (${(err as Error).message})`);
  }
}

async function readPem(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text?.includes('-----BEGIN CERTIFICATE-----') ? text : undefined;
}

/**
 * Node's own context adds the certificates to a copy of its parsed roots (a few ms for one CA). Its
 * documented route, a `ca` list with the roots in PEM, takes 30–40 ms more, so it serves only should
 * a later Node drop that method (test/trust.test.ts notices). node:tls loads only here: importing
 * it up front would cost every start.
 */
async function trustingContext(pems: string[]): Promise<SecureContext> {
  const tls = await import('node:tls');
  const context = tls.createSecureContext();
  const native = (context as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== 'function') return tls.createSecureContext({ ca: [...tls.rootCertificates, ...pems] });
  for (const pem of pems) native.addCACert(pem);
  return context;
}
