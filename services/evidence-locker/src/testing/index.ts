/**
 * Test support for the evidence locker (never imported by production code): crash points for the
 * SIGKILL tests and an air-gapped runner for a portable bundle's verify-offline.sh.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '@stella/testkit';
import { installCrashPointHook, type CrashPoint } from '../crash-points.js';

export type { CrashPoint };

/**
 * Makes the process stop for good at `point`: `onPause` is called (e.g. print a line the parent
 * test waits for, then it SIGKILLs us) and the request never continues.
 */
export function pauseForeverAt(point: CrashPoint, onPause: () => void): void {
  installCrashPointHook(async (p) => {
    if (p !== point) return;
    onPause();
    await new Promise<never>(() => undefined);
  });
}

/**
 * Test helper: runs a portable bundle's verify-offline.sh the way an air-gapped host would — no
 * network (`unshare -n`: an empty network namespace) and a PATH holding only `sh`, `sha256sum`
 * and `openssl` (symlinks in a temporary bin directory), so any other program the script tried
 * to use would fail it.
 */

const TOOLS = { sh: '/bin/sh', sha256sum: '/usr/bin/sha256sum', openssl: '/usr/bin/openssl' } as const;

export async function runVerifyOffline(bundleDir: string, args: string[] = []): Promise<RunResult> {
  const bin = await mkdtemp(join(tmpdir(), 'stella-airgap-bin-'));
  try {
    for (const [name, target] of Object.entries(TOOLS)) await symlink(target, join(bin, name));
    return await run('/usr/bin/unshare', ['-n', join(bin, 'sh'), join(bundleDir, 'verify-offline.sh'), ...args], {
      cwd: bundleDir,
      env: { PATH: bin },
    });
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
}
