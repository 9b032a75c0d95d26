/**
 * A half-open byte range: `start` is the first byte, `end` is one past the last.
 * Decided once here; HTTP's inclusive `bytes=a-b` appears only in the two helpers below.
 */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** The `Range` request header value for a non-empty range. */
export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end - 1}`;
}

export interface ContentRange {
  readonly range: ByteRange;
  /** Total size of the representation, or undefined for `*`. */
  readonly total: number | undefined;
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/** Parses `Content-Range: bytes a-b/total`; undefined when malformed or unsatisfied. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const match = value === undefined ? null : CONTENT_RANGE.exec(value.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const last = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last) || last < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || last >= total)) return undefined;
  return { range: { start, end: last + 1 }, total };
}
