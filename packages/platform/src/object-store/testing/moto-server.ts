/**
 * A real S3-compatible server on loopback for tests: moto's standalone server (`python3 -m
 * moto.server`, moto 5.x, already on this machine image). Chosen over `s3rver` because it
 * implements versioning and S3 Object Lock (retention, legal hold, refusal to delete a locked
 * version), which the WORM contract needs; s3rver has neither. Limits: docs/object-store.md.
 *
 * Each call starts a fresh server on a free port with a private temp dir (moto spills object
 * bodies over 1 MiB to temp files), and `stop()` kills it and removes the dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface MotoServer {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** Create a bucket with a unique name (Object Lock enabled when asked) and return its name. */
  createBucket(opts?: { objectLock?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The Python that has moto: `STELLA_TEST_PYTHON` (set by .ci/run after probing the candidates), else
 * `python3` from PATH (on node-svc machines, the image's pyenv Python ships moto 5.2.1).
 */
const DEFAULT_PYTHON = process.env.STELLA_TEST_PYTHON || 'python3';

/** `false` when `python -m moto.server` can run here, else why not (a skip message). */
export function motoUnavailable(python = DEFAULT_PYTHON): string | false {
  const r = spawnSync(python, ['-c', 'import moto, moto.server, flask, werkzeug'], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  return r.status === 0
    ? false
    : `${python} with moto[server] is not available (moto's S3 server backs the S3 driver tests)`;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

/** Start moto's S3 server on 127.0.0.1 and wait until it answers (≤ 30 s). */
export async function startMotoServer(opts: { python?: string } = {}): Promise<MotoServer> {
  const dir = await mkdtemp(join(tmpdir(), 'stella-moto-'));
  const port = await freePort();
  // Point Python's tempfile at our private dir (moto's spooled bodies go there) without touching
  // the environment, then run moto's own server entry point.
  const boot = 'import sys, tempfile; tempfile.tempdir = sys.argv[1]; from moto.server import main; main(sys.argv[2:])';
  const child = spawn(opts.python ?? DEFAULT_PYTHON, ['-c', boot, dir, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Keep the tail of the log for diagnostics; draining also keeps the pipe from filling up.
  let log = '';
  child.stderr.on('data', (c: Buffer) => {
    log = (log + c.toString('utf8')).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((res) => child.once('exit', () => ((exited = true), res())));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`moto server exited during start-up:\n${log}`);
    }
    try {
      const r = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto server did not start within 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const credentials = { accessKeyId: 'stella-test', secretAccessKey: 'stella-test-secret' };
  const region = 'us-east-1';
  return {
    endpoint,
    credentials,
    region,
    async createBucket({ objectLock = false } = {}) {
      const name = `stella-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
      const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
      try {
        await client.send(
          new CreateBucketCommand({ Bucket: name, ...(objectLock ? { ObjectLockEnabledForBucket: true } : {}) }),
        );
      } finally {
        client.destroy();
      }
      return name;
    },
    stop,
  };
}
