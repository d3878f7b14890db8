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

/** A hash of a module's Go sources, go.mod and go.sum (nested modules under `skip` left out). */
function moduleHash(root: string, skip: string[] = []): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      if (skip.includes(p)) continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.go') || name === 'go.mod' || name === 'go.sum') {
        h.update(relative(root, p)).update('\0').update(readFileSync(p)).update('\0');
      }
    }
  };
  walk(root);
  return h.digest('hex').slice(0, 16);
}

/** The real trivy CLI's module (interop/trivy/README.md), kept apart from the harness module. */
export const trivyModuleDir = join(interopDir, 'trivy');

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
  const hash = moduleHash(interopDir, [trivyModuleDir]);
  return buildCached(`${name}-${hash}`, interopDir, ['-trimpath', `./cmd/${name}`], {}, 900_000);
}

let trivyBuild: Promise<string> | undefined;

/**
 * The real `trivy` CLI (v0.74.0, pinned by interop/trivy/go.mod), built once per machine and
 * cached by the module's hash. Trivy's release build sets GOEXPERIMENT=jsonv2 (without it
 * encoding/json/jsontext does not compile) and CGO_ENABLED=0. A cold build takes ~10–17 min on a
 * 2-core machine; with Go's build cache warm, seconds — `.ci/run` builds it before the tests.
 */
export function trivyBinary(): Promise<string> {
  trivyBuild ??= buildCached(
    `trivy-${moduleHash(trivyModuleDir)}`,
    trivyModuleDir,
    ['-trimpath', '-ldflags', '-s -w', 'github.com/aquasecurity/trivy/cmd/trivy'],
    { GOEXPERIMENT: 'jsonv2', CGO_ENABLED: '0' },
    2_400_000,
  );
  return trivyBuild;
}

/** `go build` into interop/.bin/<binName> through a temp name and an atomic rename. */
async function buildCached(
  binName: string,
  cwd: string,
  buildArgs: string[],
  extraEnv: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<string> {
  const go = goBinary();
  if (!go) throw new Error('Go is not available');
  const binDir = join(interopDir, '.bin');
  const target = join(binDir, binName);
  if (existsSync(target)) return target;
  await mkdir(binDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const r = await run(go, ['build', '-o', tmp, ...buildArgs], {
    cwd,
    env: { ...goEnv(), ...extraEnv },
    timeoutMs,
  });
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    throw new Error(`go build ${buildArgs.at(-1)} failed (exit ${r.code}):\n${r.stderr.toString()}`);
  }
  await rename(tmp, target);
  return target;
}
