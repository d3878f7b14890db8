/** Runs `stella` in-process for tests, capturing stdout/stderr as text. */
import { PassThrough } from 'node:stream';
import { main } from '../main.js';

export async function runCli(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  const code = await main(argv, {
    stdout: out,
    stderr: err,
    env: opts.env ?? { ...process.env },
    cwd: opts.cwd ?? process.cwd(),
  });
  return { code, stdout: Buffer.concat(o).toString('utf8'), stderr: Buffer.concat(e).toString('utf8') };
}
