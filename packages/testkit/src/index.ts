/**
 * Test support shared by every package's tests (never imported by production code — a lint rule
 * enforces that). It knows where the loopback services and the Debian tools are, and makes
 * per-suite isolation cheap: a fresh Postgres database, a temp dir, a free port.
 *
 * Policy (DEVELOPERS.md, issue #2 §9): when `CI=true`, a missing service or tool is a failure,
 * not a skip. Locally, tests that need one are skipped with a message that says what is missing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

/** The repository root (the folder holding the root package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** `../shared/datasets` beside the repository (real public test data; see its SOURCE.md). */
export const datasetsDir = process.env.STELLA_DATASETS_DIR ?? resolve(repoRoot, '../shared/datasets');

export const services = {
  postgres: {
    host: '127.0.0.1',
    port: 5432,
    url: process.env.STELLA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  },
  nats: { host: '127.0.0.1', port: 4222, url: process.env.STELLA_TEST_NATS_URL ?? 'nats://127.0.0.1:4222' },
  redis: { host: '127.0.0.1', port: 6379, url: process.env.STELLA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
} as const;
export type ServiceName = keyof typeof services;

function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      res(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * For `describe(name, { skip: await needService('postgres') }, …)`: `false` when the service
 * answers; a skip message otherwise. In CI an unreachable service throws instead.
 */
export async function needService(...names: ServiceName[]): Promise<string | false> {
  for (const name of names) {
    const s = services[name];
    if (!(await tcpReachable(s.host, s.port))) {
      const msg = `${name} is not reachable on ${s.host}:${s.port}`;
      if (inCI) throw new Error(`${msg} (required in CI)`);
      return msg;
    }
  }
  return false;
}

/** Absolute path of an executable on PATH (or an absolute path that exists), else undefined. */
export function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/**
 * Like {@link needService} for executables (e.g. `openssl`, `skopeo`, `/usr/bin/python3`).
 * `check` optionally runs a probe (e.g. a python import) that must exit 0.
 */
export function needTool(tool: string, check?: { args: string[] }): string | false {
  const path = which(tool);
  let ok = path !== undefined;
  if (ok && check) ok = spawnSync(path!, check.args, { stdio: 'ignore' }).status === 0;
  if (ok) return false;
  const msg = `tool ${tool}${check ? ` (${check.args.join(' ')})` : ''} is not available`;
  if (inCI) throw new Error(`${msg} (required in CI; .ci/run installs it)`);
  return msg;
}

export { run, type RunResult } from './run-command.js';
export { assertStellaError, assertRejectsStella, type CodedError } from './assert-stella-error.js';
export { SYSTEM_PYTHON, VERIFY_DSSE_PY, dssePae, opensslVerifyDsse, sslibVerifyDsse } from './dsse-tools.js';
export {
  makeOpensslTsaPki,
  opensslReply,
  opensslTimestamp,
  startOpensslTsaHttp,
  opensslVerify,
  type OpensslTsaPki,
  type OpensslTsaPkiOptions,
  type OpensslTsaHttp,
} from './openssl-tsa.js';

/** A fresh temp dir; `cleanup()` removes it. */
export async function tempDir(prefix = 'stella-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

/** A short random suffix for isolating names (streams, groups, buckets, databases). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/**
 * A fresh database on the loopback Postgres, dropped by `drop()`. Each suite gets its own, so
 * suites run in parallel without seeing each other.
 */
export async function createTestDatabase(
  prefix = 'stella',
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = uniqueName(`t_${prefix}`)
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  const admin = new pg.Client({ connectionString: services.postgres.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const base = new URL(services.postgres.url);
  base.pathname = `/${name}`;
  return {
    url: base.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: services.postgres.url });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
export { goHarness, goBinary, goEnv, needGo, interopDir, trivyBinary, trivyModuleDir } from './go-harness.js';
export { startDockerRegistry, type DockerRegistry } from './docker-registry.js';
