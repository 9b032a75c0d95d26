import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { checkUrl } from '../options.js';

export interface InputEntry {
  url: string;
  /** Output name given after the URL, if any. */
  output?: string;
}

/**
 * Parses an input file: one `URL [output name]` per line; blank lines and `#` comments are skipped.
 * A line without a usable URL stops it all before any download, naming the line (`source` line N).
 */
export function parseInputFile(text: string, source = 'the input file'): InputEntry[] {
  const entries: InputEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [url = '', ...name] = line.split(/\s+/);
    try {
      checkUrl(url);
    } catch (err) {
      throw new UsageError(`${source} line ${index + 1}: ${(err as Error).message}`);
    }
    entries.push(name.length > 0 ? { url, output: name.join(' ') } : { url });
  });
  return entries;
}

const UNREADABLE: Record<string, string> = {
  ENOENT: 'no such file', EISDIR: 'it is a directory', EACCES: 'permission denied', EPERM: 'permission denied',
};

/** Reads `-i FILE` (`-` for standard input). */
export async function readInputFile(path: string): Promise<InputEntry[]> {
  if (path === '-') return parseInputFile(await readStdin(), 'standard input');
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the input file ${path}: ${UNREADABLE[err.code ?? ''] ?? err.message}`);
  });
  return parseInputFile(text, path);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
