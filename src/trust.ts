import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SecureContext } from 'node:tls';
import { UsageError } from './errors.js';

let made: { key: string; context: Promise<SecureContext> } | undefined;

/**
 * The TLS context for `--ca-cert <path>`: the CAs Node trusts (its roots, and NODE_EXTRA_CA_CERTS,
 * which Node leaves out of a context given CAs) plus the file's; undefined (Node's default) without
 * it; a usage error when the file cannot be read or its first certificate is not valid. One context
 * serves every connection and download of the process: tls.connect given a `ca` list parses it
 * again for each connection, Node's ~150 roots included (40 ms of CPU each). It is made again only
 * when the file changes (a CA renewed under a long-running host); a list of small files would
 * otherwise read the system's CA bundle, as NODE_EXTRA_CA_CERTS often is, once per file. Downloads
 * that start together share the one they wait for (and so their TLS sessions, tls-sessions.ts).
 */
export async function loadTrust(path: string | undefined): Promise<SecureContext | undefined> {
  if (path === undefined) return undefined;
  const extraPath = process.env.NODE_EXTRA_CA_CERTS;
  const key = `${await fileVersion(path)}\0${extraPath ?? ''}`;
  if (made?.key !== key) {
    const context = trustFor(path, extraPath);
    made = { key, context };
    // A file that could not be used is read again next time: it may have been fixed.
    context.catch(() => {
      if (made?.context === context) made = undefined;
    });
  }
  return made.context;
}

async function trustFor(path: string, extraPath: string | undefined): Promise<SecureContext> {
  const pem = await readPem(path);
  if (pem === undefined) throw new UsageError(`--ca-cert ${path}: not a readable PEM certificate file`);
  await checkCertificate(pem, path);
  // Node has warned at its start if this one cannot be read.
  const extraPem = extraPath ? await readPem(extraPath) : undefined;
  return trustingContext(extraPem === undefined ? [pem] : [extraPem, pem]);
}

/** Which file `path` is now, and which version of it: another file, or the same one rewritten, differs. */
async function fileVersion(path: string): Promise<string> {
  const file = resolve(path);
  const info = await stat(file, { bigint: true }).catch(() => undefined);
  return info ? `${file}\0${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}` : `${file}\0missing`;
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
