/**
 * Debian's `docker-registry` (distribution 2.8) on a loopback port with a temp config and storage,
 * for tests of registry clients and of artifacts real tools pull (spec
 * shared/specs/trivy-db-and-oci.md §4.5). Plain HTTP on 127.0.0.1 only; optional htpasswd Basic
 * auth (bcrypt line made by the system Python's `crypt`, no apache2-utils needed). `stop()` kills
 * the one process it started and removes the temp dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir } from './index.js';

export interface DockerRegistry {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  readonly port: number;
  /** Storage root (blobs and repositories). */
  readonly storage: string;
  /** What the registry logged so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

function bcryptLine(user: string, password: string): string {
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-W',
      'ignore',
      '-c',
      'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))',
      password,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0 || !r.stdout.startsWith('$2')) throw new Error(`cannot make a bcrypt hash: ${r.stderr}`);
  return `${user}:${r.stdout.trim()}\n`;
}

/** Starts a registry and waits (≤ 15 s) until `GET /v2/` answers. */
export async function startDockerRegistry(
  opts: { auth?: { username: string; password: string } } = {},
): Promise<DockerRegistry> {
  const dir = await tempDir('stella-registry-');
  const port = await freePort();
  const storage = join(dir.path, 'data');
  const lines = [
    'version: 0.1',
    'log: {level: warn, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: "${storage}"}, delete: {enabled: true}}`,
    `http: {addr: "127.0.0.1:${port}", secret: "stella-test-secret"}`,
  ];
  if (opts.auth) {
    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, bcryptLine(opts.auth.username, opts.auth.password));
    lines.push(`auth: {htpasswd: {realm: stella-test, path: "${htpasswd}"}}`);
  }
  const config = join(dir.path, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
  child.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await dir.cleanup();
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited (${child.exitCode}): ${log}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) });
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, port, storage, log: () => log, stop };
}
