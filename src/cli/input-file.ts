import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

export interface InputEntry {
  url: string;
  /** Output name given after the URL, if any. */
  output?: string;
}

/** Parses an input file: one `URL [output name]` per line; blank lines and `#` comments are skipped. */
export function parseInputFile(text: string): InputEntry[] {
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#')).map((line) => {
    const [url, ...name] = line.split(/\s+/);
    return name.length > 0 ? { url: url!, output: name.join(' ') } : { url: url! };
  });
}

const UNREADABLE: Record<string, string> = {
  ENOENT: 'no such file', EISDIR: 'it is a directory', EACCES: 'permission denied', EPERM: 'permission denied',
};

/** Reads `-i FILE` (`-` for standard input). */
export async function readInputFile(path: string): Promise<InputEntry[]> {
  if (path === '-') return parseInputFile(await readStdin());
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the input file ${path}: ${UNREADABLE[err.code ?? ''] ?? err.message}`);
  });
  return parseInputFile(text);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
