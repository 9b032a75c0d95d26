import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/rangeget.js', import.meta.url));

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the process exits. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export interface CliOptions {
  /** Killed if it runs longer (default 30 s). */
  timeoutMs?: number;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to its standard input (else none). */
  input?: string;
}

/** Spawns the built CLI (`npm test` builds it first). */
export function startCli(args: string[], cwd: string, { timeoutMs = 30_000, env = {}, input }: CliOptions = {}): CliRun {
  const stdin = input === undefined ? 'ignore' : 'pipe';
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, ...env } });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export function runCli(args: string[], cwd: string, options?: CliOptions) {
  return startCli(args, cwd, options).done;
}
