import { closeSync, constants, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ManifestError } from './errors.js';
import { NO_FOLLOW, removeIfExists } from './files.js';
import { newSegment, type Segment } from './scheduler.js';

export const MANIFEST_FORMAT = 'rangeget-manifest';
export const MANIFEST_VERSION = 1;

/** What was asked for: a resume is only valid against the same remote object. */
export interface ManifestHeader {
  url: string;
  finalUrl: string;
  size: number;
  etag: string | null;
  lastModified: string | null;
}

export interface SegmentRecord {
  start: number;
  end: number;
  /** Bytes from `start` handed to write() and completed; trusted only within the same boot. */
  written: number;
  /** Bytes from `start` covered by a completed fdatasync; trusted after a reboot too. */
  durable: number;
}

export interface Manifest extends ManifestHeader {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  /** The kernel boot id when `written` was recorded; null where the OS has none. */
  bootId: string | null;
  segments: SegmentRecord[];
}

export function manifestPathFor(partPath: string): string {
  return `${partPath}.json`;
}

export function toManifest(header: ManifestHeader, bootId: string | null, segments: readonly Segment[]): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    ...header,
    bootId,
    segments: segments.map(({ start, end, written, durable }) => ({ start, end, written, durable })),
  };
}

/**
 * The segments to resume from. Within the same boot, every completed write() is in the page
 * cache, so `written` is trusted (a `kill -9` costs nothing); after a reboot, or when the boot
 * is unknown, only fsynced bytes (`durable`) are.
 */
export function resumeSegments(manifest: Manifest, currentBootId: string | null): Segment[] {
  const sameBoot = currentBootId !== null && manifest.bootId === currentBootId;
  return manifest.segments.map((r) => newSegment(r, sameBoot ? r.written : r.durable, r.durable));
}

/** Parses and fully validates a manifest; anything unexpected is a ManifestError naming `path`. */
export function parseManifest(text: string, path: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ManifestError(path, 'not a valid rangeget manifest (corrupt or truncated JSON)');
  }
  const m = data as Partial<Manifest> | null;
  if (typeof m !== 'object' || m === null || m.format !== MANIFEST_FORMAT) {
    throw new ManifestError(path, 'not a rangeget manifest');
  }
  if (m.version !== MANIFEST_VERSION) {
    throw new ManifestError(path, `manifest version ${String(m.version)} is not supported (this rangeget reads version ${MANIFEST_VERSION})`);
  }
  const problem = manifestProblem(m);
  if (problem) throw new ManifestError(path, `invalid manifest: ${problem}`);
  return m as Manifest;
}

const isOffset = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const isNullableString = (s: unknown) => s === null || typeof s === 'string';

function manifestProblem(m: Partial<Manifest>): string | undefined {
  if (typeof m.url !== 'string' || typeof m.finalUrl !== 'string') return 'url missing';
  if (!isOffset(m.size)) return 'size missing';
  if (!isNullableString(m.etag) || !isNullableString(m.lastModified) || !isNullableString(m.bootId)) {
    return 'validator or boot id malformed';
  }
  if (!Array.isArray(m.segments)) return 'segments missing';
  let expectedStart = 0;
  for (const s of m.segments as Partial<SegmentRecord>[]) {
    if (!isOffset(s.start) || !isOffset(s.end) || !isOffset(s.written) || !isOffset(s.durable)) {
      return 'segment offsets malformed';
    }
    if (s.start !== expectedStart || s.end <= s.start) return 'segments do not tile the file';
    if (s.durable > s.written || s.written > s.end - s.start) return 'segment progress out of range';
    expectedStart = s.end;
  }
  return expectedStart === m.size ? undefined : 'segments do not cover the file';
}

/**
 * Reads the manifest at `path`, or undefined when there is none. An empty one (or zeros) counts
 * as none: it is what a power cut can leave of a first manifest written without fsync, and it
 * claims no byte.
 */
export async function readManifest(path: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ManifestError(path, `cannot read it (${(err as Error).message})`);
  }
  return /^\0*$/.test(text) ? undefined : parseManifest(text, path);
}

const CREATE_NO_FOLLOW = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | NO_FOLLOW;

/**
 * Replaces `path` atomically and durably: write a temporary file, fsync it, rename it over the old
 * one, fsync the directory. A reader sees the old or the new file, never half.
 */
export async function writeFileDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await open(tmp, CREATE_NO_FOLLOW);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  await syncDirectory(dirname(path));
}

/**
 * Replaces `path` atomically without fsync, at once: its own temporary file (`.new`), so it never
 * meets a durable write under way, and no trips through the event loop, which heavy downloads keep busy.
 */
export function writeFileAtomicallySync(path: string, text: string): void {
  const tmp = `${path}.new`;
  const fd = openSync(tmp, CREATE_NO_FOLLOW);
  try {
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * fsyncs `dir`, so that a rename in it survives a power cut, where the system can. Windows cannot:
 * it opens a directory but refuses to flush it (EPERM: FlushFileBuffers needs a writable handle,
 * which a directory never has), and NTFS journals the rename itself. Some file systems refuse fsync
 * on a directory (EINVAL), as PostgreSQL allows for too: nothing to wait for there either.
 */
export async function syncDirectory(dir: string, platform: NodeJS.Platform = process.platform): Promise<void> {
  if (platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync().catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EINVAL') throw err;
    });
  } finally {
    await handle.close();
  }
}

export async function removeManifest(path: string): Promise<void> {
  await Promise.all([path, `${path}.tmp`, `${path}.new`].map(removeIfExists));
}

let bootId: string | null | undefined;

/**
 * The kernel's boot id, which changes at every boot; null where the OS does not expose it. Read
 * once, synchronously: a procfs read takes microseconds, where the thread pool's open, stat, reads
 * and close took 1-2 ms of every start, between the HEAD and the first GET.
 */
export function currentBootId(): string | null {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

/** What the remote object looks like now, as far as resuming is concerned. */
export interface RemoteState {
  size: number | undefined;
  ranges: boolean;
  etag: string | null;
  lastModified: string | null;
}

/**
 * Why the partial download described by `manifest` cannot be continued against `remote`
 * (whose part file is `partSize` bytes, or missing), or undefined when it can.
 */
export function whyNotResumable(manifest: Manifest, remote: RemoteState, partSize: number | undefined): string | undefined {
  if (!remote.ranges) return 'the server does not support byte ranges now';
  if (manifest.size !== remote.size) return `the remote file's size changed (${manifest.size} → ${remote.size} bytes)`;
  // No ETag in the manifest (the server sent none, or its ETags flip): Last-Modified is what was known.
  if ((manifest.etag !== null && manifest.etag !== remote.etag) || manifest.lastModified !== remote.lastModified) {
    return 'the remote file changed (its ETag or Last-Modified differs)';
  }
  if (partSize !== manifest.size) return 'the part file is missing or has the wrong size';
  return undefined;
}

/** True when every byte the manifest describes has been written. */
export function isComplete(manifest: Manifest): boolean {
  return manifest.segments.every((s) => s.written === s.end - s.start);
}
