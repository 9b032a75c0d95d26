import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('package entry point', () => {
  it("exports download() and the error classes as 'rangeget'", () => {
    const script = "const m = await import('rangeget'); console.log(JSON.stringify({ download: typeof m.download, codes: [new m.UsageError('x').exitCode, m.ExitCode.interrupted] }))";
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ download: 'function', codes: [2, 130] });
  });
});
