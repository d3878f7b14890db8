/**
 * Issue #8 "Bad input": a crash or SIGKILL in the middle of a snapshot or upload leaves no orphan
 * rows and no half-written objects. A real server process (testing/evidence-server-child.ts) on
 * real PostgreSQL and the filesystem store is SIGKILLed (a) in the middle of a blob upload
 * stream, (b) between a blob's object write and its row commit, (c) between a snapshot's object
 * writes and its row commit; then a restarted server and the sweeper leave exactly what the rows
 * name, and the same upload / snapshot succeeds.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, needService, repoRoot, tempDir } from '@stella/testkit';
import { sweepEvidence } from '@stella/evidence-locker';
import { sha, startEvidenceRuntime } from './testing/evidence-http.js';

interface Child {
  proc: ChildProcess;
  url: string;
  token: string;
  /** Resolves when the child printed a line with this member. */
  line(member: string): Promise<Record<string, unknown>>;
  kill(): Promise<void>;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=development',
      '--import',
      'tsx',
      fileURLToPath(new URL('./testing/evidence-server-child.ts', import.meta.url)),
    ],
    // cwd: the repository, where `tsx` resolves; everything the server writes goes to STELLA_DATA_DIR.
    { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  proc.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const line = async (member: string) => {
    const deadline = Date.now() + 90_000; // a loaded 2-core machine starts tsx + the server slowly
    for (;;) {
      const found = lines.find((l) => member in l);
      if (found) return found;
      if (Date.now() > deadline || proc.exitCode !== null) assert.fail(`child never printed ${member}: ${err}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  // A child that never got ready is killed here, so no process outlives the test.
  const ready = await line('ready').catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    proc,
    url: ready.ready as string,
    token: ready.token as string,
    line,
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** A database, a store root and a data dir for one scenario; `env` configures both processes. */
async function scenario() {
  const db = await createTestDatabase('evidence_crash');
  const dir = await tempDir('stella-evidence-crash-');
  const storeRoot = join(dir.path, 'store');
  const env = {
    STELLA_DATABASE_URL: db.url,
    STELLA_OBJECT_STORE: `file://${storeRoot}`,
    STELLA_DATA_DIR: join(dir.path, 'data'),
    STELLA_HTTP_PORT: '0',
    STELLA_WORKERS: '0',
    STELLA_BUS_URL: 'memory://crash',
  };
  return {
    env,
    cwd: dir.path,
    storeRoot,
    tmpFiles: async () => readdir(join(storeRoot, 'tmp')).catch(() => [] as string[]),
    cleanup: async () => {
      await db.drop();
      await dir.cleanup();
    },
  };
}

const headers = (c: Child) => ({ authorization: `Bearer ${c.token}`, 'x-stella-tenant': 'acme' });

async function rowCounts(rt: Awaited<ReturnType<typeof startEvidenceRuntime>>['rt']) {
  const counts: Record<string, number> = {};
  for (const t of ['blobs', 'bundles', 'artifacts', 'snapshot_requests', 'custody_events', 'tenant_usage']) {
    const r = await rt.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM evidence_locker.${t}`);
    counts[t] = Number(r.rows[0]!.n);
  }
  return counts;
}

async function keys(rt: Awaited<ReturnType<typeof startEvidenceRuntime>>['rt']) {
  return (await rt.store.list('evidence/')).items.map((i) => i.key).sort();
}

describe(
  'evidence locker: SIGKILL of a real server process (PostgreSQL, fs store)',
  { skip: await needService('postgres') },
  () => {
    test('killed in the middle of a blob upload stream: no row, the half-written staging file is swept, the upload then succeeds', async () => {
      const s = await scenario();
      const child = await startChild(s.env).catch(async (err: unknown) => {
        await s.cleanup();
        throw err;
      });
      try {
        const bytes = randomBytes(8 * 1024 * 1024);
        // Content-Length says 8 MiB; only the first half is ever sent.
        const req = request(`${child.url}/evidence/blobs/${sha(bytes)}`, {
          method: 'PUT',
          headers: { ...headers(child), 'content-type': 'application/octet-stream', 'content-length': bytes.length },
        });
        req.on('error', () => undefined);
        req.write(bytes.subarray(0, 4 * 1024 * 1024));
        // Wait until the store is writing the staging file, then kill the server mid-stream.
        const deadline = Date.now() + 30_000;
        let staged: string | undefined;
        while (!staged) {
          if (Date.now() > deadline) assert.fail('no staging file appeared');
          for (const f of await s.tmpFiles())
            if ((await stat(join(s.storeRoot, 'tmp', f))).size >= 1024 * 1024) staged = f;
          await new Promise((r) => setTimeout(r, 20));
        }
        await child.kill();
        req.destroy();
        const half = (await stat(join(s.storeRoot, 'tmp', staged))).size;
        assert.ok(half < bytes.length, `a half-written staging file (${half} bytes)`);

        const h = await startEvidenceRuntime(s.env, s.cwd);
        try {
          assert.deepEqual(await rowCounts(h.rt), {
            blobs: 0,
            bundles: 0,
            artifacts: 0,
            snapshot_requests: 0,
            custody_events: 0,
            tenant_usage: 0,
          });
          assert.deepEqual(await keys(h.rt), [], 'nothing visible in the store');
          // Younger than the age: left alone (its writer could still be running).
          const young = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 3_600_000 });
          assert.deepEqual(young.staging, []);
          assert.deepEqual(await s.tmpFiles(), [staged]);
          const swept = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 0 });
          assert.deepEqual(swept.staging, [`tmp/${staged}`]);
          assert.deepEqual(await s.tmpFiles(), []);

          const again = await h.upload('acme', bytes);
          assert.equal(again.status, 201, await again.clone().text());
          const got = await h.rt.store.get(`evidence/acme/blobs/sha256/${sha(bytes).slice(7)}`);
          let n = 0;
          for await (const c of got.body) n += (c as Buffer).length;
          assert.equal(n, bytes.length);
          assert.equal((await rowCounts(h.rt)).blobs, 1);
        } finally {
          await h.close();
        }
      } finally {
        child.proc.kill('SIGKILL');
        await s.cleanup();
      }
    });

    test("killed between a blob's object write and its row commit: the unreferenced object is swept, the upload then succeeds", async () => {
      const s = await scenario();
      const child = await startChild({ ...s.env, STELLA_EVIDENCE_TEST_PAUSE_AT: 'blob.stored' }).catch(
        async (err: unknown) => {
          await s.cleanup();
          throw err;
        },
      );
      try {
        const bytes = randomBytes(256 * 1024);
        const pending = fetch(`${child.url}/evidence/blobs/${sha(bytes)}`, {
          method: 'PUT',
          headers: { ...headers(child), 'content-type': 'application/octet-stream' },
          body: bytes,
        }).catch(() => undefined);
        assert.deepEqual(await child.line('paused'), { paused: 'blob.stored' });
        await child.kill();
        await pending;

        const h = await startEvidenceRuntime(s.env, s.cwd);
        try {
          const key = `evidence/acme/blobs/sha256/${sha(bytes).slice(7)}`;
          assert.equal((await rowCounts(h.rt)).blobs, 0, 'no row');
          assert.deepEqual(await keys(h.rt), [key], 'the complete but unreferenced object');
          const young = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 3_600_000 });
          assert.deepEqual([young.removed, young.young], [[], [key]]);
          const swept = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 0 });
          assert.deepEqual(swept.removed, [key]);
          assert.deepEqual(await keys(h.rt), []);
          assert.equal((await h.upload('acme', bytes)).status, 201);
          assert.deepEqual(await keys(h.rt), [key]);
          // A second pass keeps what a row names.
          assert.deepEqual((await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 0 })).removed, []);
        } finally {
          await h.close();
        }
      } finally {
        child.proc.kill('SIGKILL');
        await s.cleanup();
      }
    });

    test("killed between a snapshot's object writes and its row commit: no rows, the archive and inline blob are swept, the same snapshot then seals", async () => {
      const s = await scenario();
      const child = await startChild({ ...s.env, STELLA_EVIDENCE_TEST_PAUSE_AT: 'snapshot.stored' }).catch(
        async (err: unknown) => {
          await s.cleanup();
          throw err;
        },
      );
      try {
        const input = Buffer.from(JSON.stringify({ sbom: 'example', components: [1, 2, 3] }));
        const up = await fetch(`${child.url}/evidence/blobs/${sha(input)}`, {
          method: 'PUT',
          headers: { ...headers(child), 'content-type': 'application/octet-stream' },
          body: input,
        });
        assert.equal(up.status, 201);
        const inline = Buffer.from('{"result":"pass"}');
        const body = {
          kind: 'evaluation',
          artifacts: [
            { path: 'inputs/sbom.json', role: 'input', mediaType: 'application/json', digest: sha(input) },
            {
              path: 'run/result.json',
              role: 'output',
              mediaType: 'application/json',
              content: inline.toString('base64'),
            },
          ],
        };
        const pending = fetch(`${child.url}/evidence/snapshot`, {
          method: 'POST',
          headers: { ...headers(child), 'content-type': 'application/json', 'idempotency-key': 'crash-1' },
          body: JSON.stringify(body),
        }).catch(() => undefined);
        assert.deepEqual(await child.line('paused'), { paused: 'snapshot.stored' });
        await child.kill();
        await pending;

        const h = await startEvidenceRuntime(s.env, s.cwd);
        try {
          const inputKey = `evidence/acme/blobs/sha256/${sha(input).slice(7)}`;
          const inlineKey = `evidence/acme/blobs/sha256/${sha(inline).slice(7)}`;
          assert.deepEqual(await rowCounts(h.rt), {
            blobs: 1,
            bundles: 0,
            artifacts: 0,
            snapshot_requests: 0,
            custody_events: 0,
            tenant_usage: 1,
          });
          const before = await keys(h.rt);
          const archive = before.find((k) => k.startsWith('evidence/acme/bundles/'));
          assert.ok(archive, `the archive was written before the kill: ${before.join(', ')}`);
          assert.deepEqual(before, [archive, inputKey, inlineKey].sort());
          const swept = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 0 });
          assert.deepEqual(swept.removed.sort(), [archive, inlineKey].sort());
          assert.deepEqual(await keys(h.rt), [inputKey], 'only what a row names is left');

          const sealed = await h.call('acme', 'POST', '/evidence/snapshot', {
            json: body,
            headers: { 'idempotency-key': 'crash-1' },
          });
          assert.equal(sealed.status, 201, await sealed.clone().text());
          const { bundleId } = (await sealed.json()) as { bundleId: string };
          const report = (await (await h.call('acme', 'POST', '/evidence/verify', { json: { bundleId } })).json()) as {
            ok: boolean;
          };
          assert.equal(report.ok, true);
          assert.equal((await rowCounts(h.rt)).bundles, 1);
          assert.deepEqual((await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 0 })).removed, []);
        } finally {
          await h.close();
        }
      } finally {
        child.proc.kill('SIGKILL');
        await s.cleanup();
      }
    });
  },
);
