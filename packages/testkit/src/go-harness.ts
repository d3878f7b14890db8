/**
 * Builds and locates the Go interop harnesses in `interop/` (interop/README.md): small programs
 * that run reference implementations (bbolt, trivy-db, transparency-dev, sumdb/note, …) against
 * our outputs. Binaries are cached by a hash of the module's files, so each machine builds an
 * unchanged harness once; the build goes through a temp name and an atomic rename, so parallel
 * test files racing to build the same harness never see a half-written binary.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inCI, which } from './index.js';
import { run } from './run-command.js';

// Resolved here, not from index.ts's repoRoot: index.ts re-exports this module (import cycle).
export const interopDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../interop');

/** The machine's Go (DEVELOPERS.md: /usr/local/go, not Debian's golang-go), else PATH's. */
export function goBinary(): string | undefined {
  const machineGo = '/usr/local/go/bin/go';
  return existsSync(machineGo) ? machineGo : which('go');
}

/** `false` when Go is available; else the skip reason (locally) — in CI a missing Go throws. */
export function needGo(): string | false {
  if (goBinary()) return false;
  const msg = 'Go is not available (the interop harnesses need the machine Go at /usr/local/go)';
  if (inCI) throw new Error(`${msg} (required in CI)`);
  return msg;
}

/** The environment `go` runs with: no toolchain download, caches even when HOME is unset. */
export function goEnv(): NodeJS.ProcessEnv {
  const home = process.env.HOME || homedir() || tmpdir();
  return {
    ...process.env,
    HOME: home,
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local',
    GOFLAGS: process.env.GOFLAGS ?? '-mod=readonly',
    GOCACHE: process.env.GOCACHE ?? join(home, '.cache', 'go-build'),
    GOPATH: process.env.GOPATH ?? join(home, 'go'),
  };
}

function moduleHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.go') || name === 'go.mod' || name === 'go.sum') {
        h.update(relative(interopDir, p)).update('\0').update(readFileSync(p)).update('\0');
      }
    }
  };
  walk(interopDir);
  return h.digest('hex').slice(0, 16);
}

const built = new Map<string, Promise<string>>();

/**
 * The path of the built harness `interop/cmd/<name>`, building it first when the cached binary is
 * missing or stale. Throws with Go's output when the build fails.
 */
export function goHarness(name: string): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = buildHarness(name);
    built.set(name, p);
  }
  return p;
}

async function buildHarness(name: string): Promise<string> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !existsSync(join(interopDir, 'cmd', name))) {
    throw new Error(`no Go harness interop/cmd/${name}`);
  }
  const go = goBinary();
  if (!go) throw new Error('Go is not available');
  const binDir = join(interopDir, '.bin');
  const target = join(binDir, `${name}-${moduleHash()}`);
  if (existsSync(target)) return target;
  await mkdir(binDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const r = await run(go, ['build', '-trimpath', '-o', tmp, `./cmd/${name}`], {
    cwd: interopDir,
    env: goEnv(),
    timeoutMs: 900_000,
  });
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    throw new Error(`go build ./cmd/${name} failed (exit ${r.code}):\n${r.stderr.toString()}`);
  }
  await rename(tmp, target);
  return target;
}
