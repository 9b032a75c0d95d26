import { getSystemErrorMap } from 'node:util';
import type { Validators } from './planner.js';

/**
 * Every failure rangeget reports is one of these classes. `code` is stable (scripts may
 * match on it) and `exitCode` is what the CLI exits with; see "Exit codes" in the README.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  network: 3,
  integrity: 4,
  localIo: 5,
  interrupted: 130,
} as const;

export abstract class RangegetError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;
  override readonly name: string = this.constructor.name;
  /** The part file of a download this failure stopped, which the same command run again continues. */
  keptPart?: string;
}

/** Bad command line or options: nothing was downloaded. */
export class UsageError extends RangegetError {
  readonly code = 'EUSAGE';
  readonly exitCode = ExitCode.usage;
}

/** The output file already exists and is complete; `--overwrite` replaces it. */
export class OutputExistsError extends RangegetError {
  readonly code = 'EEXIST';
  readonly exitCode = ExitCode.usage;
  constructor(readonly path: string) {
    super(`${path} already exists; use --overwrite to replace it or -o to choose another name`);
  }
}

/** The server answered with an HTTP error status. */
export class HttpError extends RangegetError {
  readonly code = 'EHTTP';
  readonly exitCode = ExitCode.network;
  /** How long the server asked us to wait (Retry-After on 429/503), if it said. */
  readonly retryAfterMs: number | undefined;
  constructor(readonly status: number, readonly url: string, retryAfterMs?: number) {
    super(`server answered HTTP ${status} for ${url}${HTTP_HINTS[status] ?? ''}`);
    this.retryAfterMs = retryAfterMs;
  }
}

/** What to do about the statuses a user can fix from the command line. */
const HTTP_HINTS: Record<number, string> = {
  401: '; it asks for credentials: --user USER:PASSWORD, or USER:PASSWORD@ in the URL',
  407: '; the proxy asks for credentials: USER:PASSWORD@ in the --proxy URL',
};

/** The connection failed: refused, reset, timed out, DNS, TLS. */
export class NetworkError extends RangegetError {
  readonly code = 'ENETWORK';
  readonly exitCode = ExitCode.network;
  /** False for causes a retry cannot fix (unknown host, bad certificate). */
  readonly retryable: boolean;
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? true;
  }
}

/** A request far slower than the others, or silent while they answer: its range is re-requested on a fresh connection. */
export class CrawlingError extends NetworkError {
  static pace(bytesPerSecond: number): CrawlingError {
    return new CrawlingError(`crawling at ${Math.round(bytesPerSecond / 1024)} KiB/s while the other connections are much faster`);
  }

  /** `sent`: whether the request had a connection to go out on. */
  static silence(waitedMs: number, usualMs: number, sent: boolean): CrawlingError {
    const seconds = (ms: number) => (ms / 1000).toFixed(ms < 100 ? 3 : 1);
    const silence = sent ? 'no response' : 'no connection';
    return new CrawlingError(`${silence} after ${seconds(waitedMs)} s, where the server usually answers in ${seconds(usualMs)} s`, silence);
  }

  /** `silence`: what the request lacked when it got no response at all, rather than crawling. */
  private constructor(what: string, readonly silence?: 'no response' | 'no connection') {
    super(`${what}; re-requesting`);
  }
}

/** The server sent a response rangeget must not trust (wrong Content-Range, encoding, ...). */
export class ProtocolError extends RangegetError {
  readonly code = 'EPROTOCOL';
  readonly exitCode = ExitCode.network;
}

/** A response came from another version of the file (its ETag or Last-Modified differs). */
export class RemoteChangedError extends RangegetError {
  readonly code = 'ECHANGED';
  readonly exitCode = ExitCode.network;
  /** `seen`: the validators of the response that differed, when one did. */
  constructor(readonly seen?: Validators) {
    super('the remote file changed while it was being downloaded');
  }
}

/** Ranged responses are unusable (a 200 for the whole file, or a compressed body): use one stream. */
export class RangeIgnoredError extends RangegetError {
  readonly code = 'ENORANGE';
  readonly exitCode = ExitCode.network;
  constructor(reason = 'the server ignores Range requests') {
    super(reason);
  }
}

/** Ranged responses name another total size than the plan (HEAD lied): start over with theirs. */
export class SizeMismatchError extends RangegetError {
  readonly code = 'ESIZE';
  readonly exitCode = ExitCode.network;
  constructor(readonly expected: number | undefined, readonly actual: number) {
    super(`the server said ${expected ?? 'no'} bytes, but its ranged responses say ${actual}`);
  }
}

/** The finished file does not match `--checksum`. */
export class IntegrityError extends RangegetError {
  readonly code = 'EINTEGRITY';
  readonly exitCode = ExitCode.integrity;
}

/** Reading or writing local files failed (disk full, permissions, ...). */
export class LocalIoError extends RangegetError {
  readonly code = 'EIO';
  readonly exitCode = ExitCode.localIo;
}

/** The sidecar manifest is unreadable, foreign or from a future version. */
export class ManifestError extends RangegetError {
  readonly code = 'EMANIFEST';
  readonly exitCode = ExitCode.localIo;
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}; delete it or run again with --restart to start over`);
  }
}

/** Another rangeget process is downloading to the same output. */
export class LockedError extends RangegetError {
  readonly code = 'ELOCKED';
  readonly exitCode = ExitCode.localIo;
  constructor(readonly path: string, readonly pid: number | undefined) {
    super(pid === process.pid
      ? `another download in this process is writing to ${path}; give each download its own output name or directory`
      : `another rangeget${pid ? ` (pid ${pid})` : ''} is downloading to ${path}; wait for it to finish or stop it`);
  }
}

/** Stopped by Ctrl-C, SIGTERM or an AbortSignal; `keptPart` says whether there is anything to resume. */
export class AbortedError extends RangegetError {
  readonly code = 'EABORTED';
  readonly exitCode = ExitCode.interrupted;
  constructor() {
    super('interrupted');
  }
}

/** An error from the operating system (fs, sockets), as opposed to one of rangeget's own. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'errno' in err;
}

const PERMISSION_DENIED = 'permission denied; save where you may write, with -d DIR or -o FILE';

/** What to tell the user about an fs error, by its code; see `localIoError`. */
const LOCAL_IO_ADVICE: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded; free some space or save elsewhere, with -d DIR or -o FILE',
  EACCES: PERMISSION_DENIED,
  EPERM: PERMISSION_DENIED,
  EROFS: 'read-only file system; save elsewhere, with -d DIR or -o FILE',
  ELOOP: 'a symbolic link, which rangeget does not write through; remove it',
  ENAMETOOLONG: 'file name too long; choose a shorter one with -o (its part files add 14 bytes)',
  EFBIG: 'file too large for this file system (FAT32 holds at most 4 GiB a file) or for the file size limit (ulimit -f); save elsewhere, with -d DIR or -o FILE',
  EMFILE: 'too many open files; raise the limit (ulimit -n) or use fewer connections',
};

/**
 * Wraps an fs error so the message names the path and the exit code says "local I/O". An error
 * without advice of its own says what the system says, once: Node's message repeats the path.
 */
export function localIoError(cause: unknown, path: string): LocalIoError {
  const err = cause as NodeJS.ErrnoException;
  const said = err?.errno === undefined ? undefined : getSystemErrorMap().get(err.errno)?.[1];
  const what = LOCAL_IO_ADVICE[err?.code ?? ''] ?? (said ? `${said} (${err.code})` : err?.message ?? String(cause));
  return new LocalIoError(`${err?.path ?? path}: ${what}`, { cause });
}
