/**
 * The evidence sweeper's policy (docs/evidence-sweeper.md) and the races of issue #8 on real
 * PostgreSQL with concurrent requests: two snapshots on one Idempotency-Key, uploads racing on the
 * quota, and the sweeper racing a writer that is committing the row of the object it looks at.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDb } from '@stella/platform/db';
import { createTestDatabase, needService, tempDir } from '@stella/testkit';
import { claimStoredObjects, sweepEvidence } from '@stella/evidence-locker';
import { mintDevToken } from './runtime.js';
import { sha, startEvidenceRuntime, type EvidenceClient } from './testing/evidence-http.js';

const skip = await needService('postgres');

async function withRuntime(env: Record<string, string>) {
  const db = await createTestDatabase('evidence_sweep');
  const dir = await tempDir('stella-evidence-sweep-');
  const storeRoot = join(dir.path, 'store');
  const h = await startEvidenceRuntime(
    {
      STELLA_DATABASE_URL: db.url,
      STELLA_OBJECT_STORE: `file://${storeRoot}`,
      STELLA_DATA_DIR: join(dir.path, 'data'),
      ...env,
    },
    dir.path,
  );
  return {
    h,
    storeRoot,
    dbUrl: db.url,
    close: async () => {
      await h.close();
      await db.drop();
      await dir.cleanup();
    },
  };
}

const keys = async (h: EvidenceClient, prefix = 'evidence/') =>
  (await h.rt.store.list(prefix)).items.map((i) => i.key).sort();
const count = async (h: EvidenceClient, table: string) =>
  Number((await h.rt.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM evidence_locker.${table}`)).rows[0]!.n);
const blobKeyOf = (tenant: string, bytes: Uint8Array) => `evidence/${tenant}/blobs/sha256/${sha(bytes).slice(7)}`;

describe('evidence sweeper: what it removes and what it never touches', { skip }, () => {
  let env: Awaited<ReturnType<typeof withRuntime>>;
  before(async () => {
    env = await withRuntime({});
  });
  after(() => env.close());

  test('old staging files and unreferenced objects go; rows, held and retained objects, young objects and foreign keys stay', async () => {
    const { h } = env;
    const kept = randomBytes(1000);
    assert.equal((await h.upload('acme', kept)).status, 201);
    const sealed = await h.call('acme', 'POST', '/evidence/snapshot', {
      json: { kind: 'job', artifacts: [{ path: 'log.txt', role: 'log', mediaType: 'text/plain', digest: sha(kept) }] },
    });
    assert.equal(sealed.status, 201);
    const { bundleId } = (await sealed.json()) as { bundleId: string };
    // Planted: what a crashed writer leaves (objects no row names), a held and a retained one,
    // a key of a shape the sweeper does not own, and an old staging file inside the store.
    const orphan = randomBytes(500);
    const held = randomBytes(501);
    const retained = randomBytes(502);
    await h.rt.store.put(blobKeyOf('acme', orphan), orphan);
    await h.rt.store.put(blobKeyOf('globex', orphan), orphan);
    await h.rt.store.put('evidence/acme/bundles/01ORPHANARCHIVE.tgz', randomBytes(100));
    await h.rt.store.put(blobKeyOf('acme', held), held, { legalHold: true });
    await h.rt.store.put(blobKeyOf('acme', retained), retained, { retainUntil: new Date(Date.now() + 3_600_000) });
    await h.rt.store.put('evidence/acme/portable/export.tgz', randomBytes(10));
    const tmp = join(env.storeRoot, 'tmp');
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'crashed-upload'), randomBytes(64));
    const hourAgo = new Date(Date.now() - 3_600_000 - 60_000);
    await utimes(join(tmp, 'crashed-upload'), hourAgo, hourAgo);
    await writeFile(join(tmp, 'live-upload'), randomBytes(64));

    // With a one-hour age only the old staging file qualifies: every planted object is young.
    const first = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 3_600_000 });
    assert.deepEqual(first.staging, ['tmp/crashed-upload']);
    assert.deepEqual(first.removed, []);
    assert.deepEqual((await readdir(tmp)).sort(), ['live-upload']);
    assert.deepEqual(first.foreign, ['evidence/acme/portable/export.tgz']);
    assert.equal(first.young.length, 3);

    await new Promise((r) => setTimeout(r, 20));
    const second = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 1 });
    assert.deepEqual(
      second.removed.sort(),
      [blobKeyOf('acme', orphan), blobKeyOf('globex', orphan), 'evidence/acme/bundles/01ORPHANARCHIVE.tgz'].sort(),
    );
    assert.deepEqual(second.retained.sort(), [blobKeyOf('acme', held), blobKeyOf('acme', retained)].sort());
    assert.deepEqual(
      await keys(h),
      [
        `evidence/acme/bundles/${bundleId}.tgz`,
        blobKeyOf('acme', kept),
        blobKeyOf('acme', held),
        blobKeyOf('acme', retained),
        'evidence/acme/portable/export.tgz',
      ].sort(),
    );
    const verified = (await (await h.call('acme', 'POST', '/evidence/verify', { json: { bundleId } })).json()) as {
      ok: boolean;
    };
    assert.equal(verified.ok, true, 'the sealed bundle is untouched');
  });

  test('a writer committing its row while the sweeper looks: the sweeper waits on the claim lock and keeps the object', async () => {
    const { h } = env;
    const bytes = randomBytes(700);
    const key = blobKeyOf('acme', bytes);
    await h.rt.store.put(key, bytes);
    // The sweeper of another replica: its own pool on the same database.
    const replica = await openDb({ kind: 'postgres', url: env.dbUrl });
    let sweep: Promise<unknown> | undefined;
    await h.rt.db.withTenant('acme', async (tx) => {
      await claimStoredObjects(tx, h.rt.store, [key]);
      await tx.query('INSERT INTO evidence_locker.blobs (digest, size, object_key) VALUES ($1, $2, $3)', [
        sha(bytes),
        bytes.length,
        key,
      ]);
      // The row is not committed yet: the sweeper sees an unreferenced, old object and must wait.
      sweep = sweepEvidence(replica, h.rt.store, { olderThanMs: 0 });
      await new Promise((r) => setTimeout(r, 300));
    });
    const report = (await sweep) as Awaited<ReturnType<typeof sweepEvidence>>;
    await replica.close();
    assert.ok(!report.removed.includes(key), 'kept: its row committed while the sweeper waited');
    assert.equal(await h.rt.store.exists(key), true);

    // The other order: the sweeper removed the object first, so the late writer's claim fails
    // (CONFLICT) and no row naming a missing object is committed.
    const late = randomBytes(701);
    const lateKey = blobKeyOf('acme', late);
    await h.rt.store.put(lateKey, late);
    assert.ok((await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 0 })).removed.includes(lateKey));
    await assert.rejects(
      h.rt.db.withTenant('acme', async (tx) => {
        await claimStoredObjects(tx, h.rt.store, [lateKey]);
        await tx.query('INSERT INTO evidence_locker.blobs (digest, size, object_key) VALUES ($1, $2, $3)', [
          sha(late),
          late.length,
          lateKey,
        ]);
      }),
      (err: { code?: string }) => err.code === 'CONFLICT',
    );
    const rows = await h.rt.db.query('SELECT 1 FROM evidence_locker.blobs WHERE object_key = $1', [lateKey]);
    assert.equal(rows.rows.length, 0);
  });
});

describe('evidence sweeper as a background worker', { skip }, () => {
  test('STELLA_WORKERS=1 runs it at the configured interval and age', async () => {
    const env = await withRuntime({
      STELLA_WORKERS: '1',
      STELLA_EVIDENCE_SWEEP_AGE_SECONDS: '1',
      STELLA_EVIDENCE_SWEEP_INTERVAL_SECONDS: '1',
    });
    try {
      assert.ok(env.h.rt.workers.includes('evidence-sweeper'), env.h.rt.workers.join(', '));
      const orphan = randomBytes(300);
      await env.h.rt.store.put(blobKeyOf('acme', orphan), orphan);
      const deadline = Date.now() + 15_000;
      while (await env.h.rt.store.exists(blobKeyOf('acme', orphan))) {
        if (Date.now() > deadline) assert.fail('the worker never swept the orphan');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await env.close();
    }
  });
});

describe('evidence locker races on PostgreSQL', { skip }, () => {
  let env: Awaited<ReturnType<typeof withRuntime>>;
  before(async () => {
    env = await withRuntime({ STELLA_EVIDENCE_TENANT_QUOTA_BYTES: '100KiB' });
  });
  after(() => env.close());

  test('snapshots racing on one Idempotency-Key: one bundle, every answer names it; another body is a 409', async () => {
    const { h } = env;
    const input = randomBytes(2000);
    assert.equal((await h.upload('race', input)).status, 201);
    const body = {
      kind: 'evaluation',
      artifacts: [
        { path: 'in.bin', role: 'input', mediaType: 'application/octet-stream', digest: sha(input) },
        {
          path: 'out.json',
          role: 'output',
          mediaType: 'application/json',
          content: Buffer.from('{"ok":1}').toString('base64'),
        },
      ],
    };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        h.call('race', 'POST', '/evidence/snapshot', { json: body, headers: { 'idempotency-key': 'same-key' } }),
      ),
    );
    const bodies = await Promise.all(
      answers.map(async (a) => ({ status: a.status, body: (await a.json()) as { bundleId?: string; code?: string } })),
    );
    assert.deepEqual(
      bodies.map((b) => b.status),
      [201, 201, 201, 201, 201, 201],
      JSON.stringify(bodies),
    );
    assert.equal(new Set(bodies.map((b) => b.body.bundleId)).size, 1);
    const bundles = await h.rt.db.withTenant('race', (tx) =>
      tx.query<{ bundle_id: string }>('SELECT bundle_id FROM evidence_locker.bundles'),
    );
    assert.deepEqual(
      bundles.rows.map((r) => r.bundle_id),
      [bodies[0]!.body.bundleId],
    );
    // The losers' archives were removed; only the winner's is left.
    assert.deepEqual(await keys(h, 'evidence/race/bundles/'), [
      `evidence/race/bundles/${bodies[0]!.body.bundleId}.tgz`,
    ]);

    // Two different bodies racing on a fresh key: one bundle; the other answer is a clear 409.
    const [a, b] = await Promise.all([
      h.call('race', 'POST', '/evidence/snapshot', { json: body, headers: { 'idempotency-key': 'other-key' } }),
      h.call('race', 'POST', '/evidence/snapshot', {
        json: { ...body, kind: 'job' },
        headers: { 'idempotency-key': 'other-key' },
      }),
    ]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [201, 409]);
    const loser = [a, b].find((r) => r.status === 409)!;
    assert.equal(((await loser.json()) as { code: string }).code, 'CONFLICT');
    assert.equal(
      Number(
        (
          await h.rt.db.withTenant('race', (tx) =>
            tx.query<{ n: string }>(
              "SELECT count(*)::text AS n FROM evidence_locker.snapshot_requests WHERE idempotency_key = 'other-key'",
            ),
          )
        ).rows[0]!.n,
      ),
      1,
    );
    assert.equal((await keys(h, 'evidence/race/bundles/')).length, 2);
  });

  test('uploads racing on the quota never pass it; refused uploads leave no object', async () => {
    const { h } = env;
    // 100 KiB quota, ten 30 KiB blobs at once: three fit.
    const blobs = Array.from({ length: 10 }, () => randomBytes(30 * 1024));
    const answers = await Promise.all(blobs.map((b) => h.upload('quota', b)));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 201).length, 3, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 7, statuses.join(','));
    for (const a of answers.filter((x) => x.status === 429))
      assert.equal(((await a.json()) as { code: string }).code, 'QUOTA_EXCEEDED');
    const usage = await h.rt.db.withTenant('quota', (tx) =>
      tx.query<{ used: string; sum: string; n: string }>(
        `SELECT (SELECT blob_bytes FROM evidence_locker.tenant_usage)::text AS used,
                (SELECT sum(size) FROM evidence_locker.blobs)::text AS sum,
                (SELECT count(*) FROM evidence_locker.blobs)::text AS n`,
      ),
    );
    assert.deepEqual(usage.rows[0], { used: String(3 * 30 * 1024), sum: String(3 * 30 * 1024), n: '3' });
    const stored = await keys(h, 'evidence/quota/');
    const accepted = blobs.filter((_, i) => statuses[i] === 201).map((b) => blobKeyOf('quota', b));
    assert.deepEqual(stored, accepted.sort());
    // The same race without Content-Length (limits enforced while streaming).
    const more = Array.from({ length: 4 }, () => randomBytes(20 * 1024));
    const streamed = await Promise.all(
      more.map(async (b) =>
        fetch(`${h.rt.url}/evidence/blobs/${sha(b)}`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${await mintDevToken(h.rt.devIssuer!, 'quota')}`,
            'x-stella-tenant': 'quota',
            'content-type': 'application/octet-stream',
          },
          body: new ReadableStream({
            start(c) {
              c.enqueue(new Uint8Array(b));
              c.close();
            },
          }),
          duplex: 'half',
        } as RequestInit),
      ),
    );
    assert.deepEqual(
      streamed.map((r) => r.status),
      [429, 429, 429, 429],
      '10 KiB left: none of the 20 KiB blobs fits',
    );
    assert.equal(await count(h, 'blobs'), 3 + 2 /* the race tenant's */);
    assert.deepEqual(await keys(h, 'evidence/quota/'), accepted.sort());
  });
});
