import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './errors.js';
import { chooseFileName } from './filename.js';
import { headerValue, requestFollowingRedirects, type Headers } from './http.js';
import { parseContentRange } from './range.js';

/** What one look at the server says about the remote object. Plain, serialisable data. */
export interface Plan {
  /** The URL as asked for. */
  url: string;
  /** Where it lives after redirects; every data request goes here. */
  finalUrl: string;
  /** Total bytes, when the server says. */
  size: number | undefined;
  /** Byte ranges work and the size is known: the download can be split and resumed. */
  ranges: boolean;
  etag: string | null;
  lastModified: string | null;
  /** Sanitised name suggested by Content-Disposition or the URL. */
  fileName: string;
  /** Things worth telling the user, such as "HEAD refused". */
  notes: string[];
}

/** What tells one version of the remote file from another. */
export type Validators = Pick<Plan, 'etag' | 'lastModified'>;

/**
 * Whether a response that differed from `plan` only by its ETag shows servers that each give the
 * file their own ETag (behind a load balancer: Apache's inode-based ETags, IIS), not a new file.
 * Size and Last-Modified must agree, and the ETag must flip rather than move on: the new plan
 * (`fresh`) does not confirm it, or it is one planned with before (`earlierEtags`).
 */
export function etagFlaps(
  plan: Plan, seen: Validators, fresh: Plan, earlierEtags: ReadonlySet<string>,
): boolean {
  const sameFile = plan.lastModified !== null && seen.lastModified === plan.lastModified
    && fresh.lastModified === plan.lastModified && fresh.size === plan.size;
  const flipped = seen.etag !== null && seen.etag !== plan.etag && (fresh.etag !== seen.etag || earlierEtags.has(seen.etag));
  return sameFile && flipped;
}

/** The `If-Range` value: a strong ETag, else Last-Modified, else none (RFC 9110 §13.1.5). */
export function ifRangeValue(plan: Validators): string | undefined {
  if (plan.etag && !plan.etag.startsWith('W/')) return plan.etag;
  return plan.lastModified ?? undefined;
}

/**
 * HEAD first; when HEAD is refused or does not say both a length above 0 and `Accept-Ranges`,
 * a `GET` with `Range: bytes=0-0` settles it (its Content-Range carries the total). `signal`
 * stops a server that does not answer at once (AbortedError), not after the timeout.
 */
export async function makePlan(dispatcher: Dispatcher, url: string, headers: Headers, signal?: AbortSignal): Promise<Plan> {
  const notes: string[] = [];
  const head = await requestFollowingRedirects(dispatcher, url, 'HEAD', headers, signal);
  await head.response.body.dump();
  const headOk = head.response.statusCode >= 200 && head.response.statusCode < 300;
  const headSize = headOk ? contentLength(head.response.headers) : undefined;
  const acceptRanges = headOk ? headerValue(head.response.headers, 'accept-ranges')?.toLowerCase() : undefined;

  // A HEAD that says 0 bytes is asked again with a GET: some servers say 0 to HEAD for any file,
  // and an empty file taken on their word is a wrong file. For a truly empty one, one request more.
  if (headOk && headSize !== undefined && headSize > 0 && (acceptRanges === 'bytes' || acceptRanges === 'none')) {
    return describe(url, head.url, head.response.headers, headSize, acceptRanges === 'bytes', notes);
  }
  if (!headOk) notes.push(`HEAD answered ${head.response.statusCode}; asked with a ranged GET instead`);
  return probe(dispatcher, url, headers, headSize, notes, signal);
}

async function probe(
  dispatcher: Dispatcher, url: string, headers: Headers, headSize: number | undefined, notes: string[], signal: AbortSignal | undefined,
): Promise<Plan> {
  const { url: finalUrl, response } = await requestFollowingRedirects(dispatcher, url, 'GET', { ...headers, range: 'bytes=0-0' }, signal);
  await response.body.dump();
  const { statusCode, headers: got } = response;
  const contentRange = parseContentRange(headerValue(got, 'content-range'));
  if (statusCode === 206 && contentRange?.range.start === 0 && contentRange.range.end === 1) {
    const size = contentRange.total;
    if (headSize !== undefined && size !== undefined && size !== headSize) {
      notes.push(`HEAD said ${headSize} bytes but a ranged GET says ${size}; trusting the GET`);
    }
    return describe(url, finalUrl, got, size, size !== undefined, notes);
  }
  if (statusCode === 416 && /^bytes \*\/0$/.test(headerValue(got, 'content-range') ?? '')) {
    return describe(url, finalUrl, got, 0, false, notes);
  }
  if (statusCode === 200) return describe(url, finalUrl, got, contentLength(got) ?? headSize, false, notes);
  throw new HttpError(statusCode, finalUrl);
}

function describe(url: string, finalUrl: string, headers: IncomingHttpHeaders, size: number | undefined, ranges: boolean, notes: string[]): Plan {
  if (!ranges && size !== 0) notes.push(oneConnectionNote(new URL(finalUrl).host, size));
  return {
    url,
    finalUrl,
    size,
    ranges,
    etag: headerValue(headers, 'etag') ?? null,
    lastModified: headerValue(headers, 'last-modified') ?? null,
    fileName: chooseFileName(headerValue(headers, 'content-disposition'), url),
    notes,
  };
}

/** Why a download gets one connection and no resume, where more were asked for or it may be stopped. */
function oneConnectionNote(host: string, size: number | undefined): string {
  const why = size === undefined ? "does not say the file's size" : 'does not serve byte ranges';
  return `${host} ${why}: one connection, and an interrupted download starts over`;
}

function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headerValue(headers, 'content-length');
  const length = value === undefined || !/^\d+$/.test(value) ? NaN : Number(value);
  return Number.isSafeInteger(length) ? length : undefined;
}
