/**
 * Runs the real `stella` entry (`cli/bin/stella.js` on the TS sources via tsx) as a child
 * process, so tests see exactly what a user sees: the exit code and both streams as text.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/stella.js', import.meta.url));
const TSX = import.meta.resolve('tsx');

export function spawnCli(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=development', '--import', TSX, BIN, ...argv],
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        // A non-zero exit is a result, not a failure of the helper.
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
