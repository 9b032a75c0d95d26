import contentDisposition from 'content-disposition';

export const DEFAULT_FILE_NAME = 'download';

const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/** File systems allow 255 bytes per name, and the longest sidecars add `.part.json.tmp` (or `.new`). */
const MAX_NAME_BYTES = 255 - '.part.json.tmp'.length;

/** Marks that reorder text: a server's 'invoice\u202Efdp.exe' shows as 'invoiceexe.pdf'. */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes a name from a server or URL safe to use as a file in the output directory:
 * base name only, no control or text-direction characters, no leading dots, no Windows reserved
 * names. Returns undefined when nothing usable is left.
 */
export function sanitizeFileName(raw: string): string | undefined {
  const base = raw.split(/[/\\]/).pop() ?? '';
  const cleaned = base
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .replace(BIDI_CONTROLS, '')
    .replace(/[<>:"|?*]/g, '_')
    .trim()
    .replace(/^\.+/, '')
    .replace(/[. ]+$/, '');
  if (cleaned === '') return undefined;
  const safe = RESERVED.test(cleaned) ? `_${cleaned}` : cleaned;
  return truncateUtf8(safe, MAX_NAME_BYTES);
}

/** Cuts whole characters (never half a surrogate pair) until the name fits in `maxBytes` of UTF-8. */
function truncateUtf8(name: string, maxBytes: number): string {
  const chars = Array.from(name);
  while (Buffer.byteLength(chars.join('')) > maxBytes) chars.pop();
  return chars.join('');
}

/** The file name a Content-Disposition header suggests, sanitised; undefined if none. */
export function nameFromContentDisposition(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    const { filename } = contentDisposition.parse(header).parameters;
    return filename === undefined ? undefined : sanitizeFileName(filename);
  } catch {
    return undefined;
  }
}

/** The URL's last path segment, percent-decoded and sanitised; undefined if none. */
export function nameFromUrl(url: string): string | undefined {
  const segment = new URL(url).pathname.split('/').pop() ?? '';
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // Malformed percent-encoding: keep the raw segment.
  }
  return sanitizeFileName(decoded);
}

/** Content-Disposition first, then the URL, then a fixed default. */
export function chooseFileName(contentDispositionHeader: string | undefined, url: string): string {
  return nameFromContentDisposition(contentDispositionHeader) ?? nameFromUrl(url) ?? DEFAULT_FILE_NAME;
}
