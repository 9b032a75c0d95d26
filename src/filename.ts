import contentDisposition from 'content-disposition';

export const DEFAULT_FILE_NAME = 'download';

const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/**
 * Makes a name from a server or URL safe to use as a file in the output directory:
 * base name only, no control characters, no leading dots, no Windows reserved names.
 * Returns undefined when nothing usable is left.
 */
export function sanitizeFileName(raw: string): string | undefined {
  const base = raw.split(/[/\\]/).pop() ?? '';
  const cleaned = base
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .trim()
    .replace(/^\.+/, '')
    .replace(/[. ]+$/, '');
  if (cleaned === '') return undefined;
  const safe = RESERVED.test(cleaned) ? `_${cleaned}` : cleaned;
  return truncateUtf8(safe, 255);
}

function truncateUtf8(name: string, maxBytes: number): string {
  let out = name;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
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
