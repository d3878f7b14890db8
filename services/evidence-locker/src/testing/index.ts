/**
 * Test helper: runs a portable bundle's verify-offline.sh the way an air-gapped host would — no
 * network (`unshare -n`: an empty network namespace) and a PATH holding only `sh`, `sha256sum`
 * and `openssl` (symlinks in a temporary bin directory), so any other program the script tried
 * to use would fail it.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '@stella/testkit';

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
