/** Downloads in a row from one server that each needed one connection, before the next opens only one ahead. */
export const SMALL_FILES_IN_A_ROW = 3;

/**
 * What a list has learnt about each server's files. A download opens `-n` connections while its
 * HEAD is under way (src/preconnect.ts), and a small file, one request, uses one: over TLS each
 * other one is a handshake for nothing (about 0.6 ms each on loopback). After a few files in a row
 * from a server that each needed one connection, the next from it opens one ahead; a large file
 * among them then waits once for its other connections' handshakes. Not after a single file:
 * `SHA256SUMS` before the ISO is a common pair.
 */
export class PreconnectHints {
  private readonly smallInARow = new Map<string, number>();

  /** The `preconnect` for the next download of `url`: 1 after small files from its server, else undefined (all). */
  for(url: string): number | undefined {
    return (this.smallInARow.get(serverOf(url)) ?? 0) >= SMALL_FILES_IN_A_ROW ? 1 : undefined;
  }

  /** A download of `url` finished, with at most `connections` at once. */
  record(url: string, connections: number): void {
    const server = serverOf(url);
    this.smallInARow.set(server, connections <= 1 ? (this.smallInARow.get(server) ?? 0) + 1 : 0);
  }
}

/** The URL's origin; an invalid URL is the download's to reject, with its usage error. */
function serverOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : url;
}
