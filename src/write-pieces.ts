/**
 * Bytes per write into the page cache, and the file offsets the writes are aligned to.
 *
 * Linux sizes a buffered write's page-cache folios by the write: one write of 256 KiB gets folios
 * of up to 64 pages, taken from the buddy allocator; writes of 32 KiB or less get folios of at most
 * 8 pages, mostly from per-CPU lists of recently freed pages. On these machines (a VM whose host
 * takes back memory the guest leaves free) the large folios' memory is cold: copying 1 GiB into the
 * page cache took 1.6-3.0 s of system time with 64-256 KiB writes after a few idle seconds, 0.3-0.5
 * s with 16 KiB writes. Where memory is warm, pieces cost 0.1-0.2 CPU s per GiB in system calls.
 * Measured with rangeget, 1 GiB from nginx, interleaved runs: unthrottled at 4 connections 3.32 ->
 * 2.14 s and 3.16 -> 1.98 CPU s; capped at 16, 4.47 -> 3.77 s (as in the README; more in
 * docs/performance.md). Aligned pieces of 64 KiB were as slow as 256 KiB writes; of 16 and 8 KiB,
 * slower than 32 (more system calls).
 */
export const PIECE_BYTES = 32 * 1024;

/**
 * Splits `chunks`, to be written in order from file offset `position`, into pieces that each
 * fill at most one `pieceBytes`-aligned window of the file: one write per piece.
 */
export function splitIntoPieces(chunks: readonly Buffer[], position: number, pieceBytes = PIECE_BYTES): Buffer[][] {
  const pieces: Buffer[][] = [];
  let piece: Buffer[] = [];
  let room = pieceBytes - (position % pieceBytes);
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; ) {
      const length = Math.min(room, chunk.length - at);
      piece.push(length === chunk.length ? chunk : chunk.subarray(at, at + length));
      at += length;
      room -= length;
      if (room === 0) {
        pieces.push(piece);
        piece = [];
        room = pieceBytes;
      }
    }
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}
