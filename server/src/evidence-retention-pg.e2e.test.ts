/**
 * Evidence retention on real PostgreSQL (issue 8 items 5–7): tenants apart under RLS (retention,
 * tombstones, incident mode, the worker's owner-role enumeration), a hold in flight while a purge
 * runs, and a purge process killed with SIGKILL at each stage (server/src/testing/purge-crash-child.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, needService, run } from '@stella/testkit';
import { purgeAll } from '@stella/evidence-locker';
import { archiveKey, blobKey, harness, sleep, type ErrorBody } from './testing/evidence-retention-harness.js';

describe(
  'evidence retention on PostgreSQL: tenants apart; a killed purge leaves the bundle or its tombstone',
  {
    skip: await needService('postgres'),
  },
  () => {
    test('cross-tenant: B cannot change A’s retention, see A’s tombstones or toggle A’s incident', async () => {
      const db = await createTestDatabase('retention');
      const h = await harness({ STELLA_DATABASE_URL: db.url });
      try {
        const a = await h.seal('tenant-a', 'job', 'a-only');
        await h.json('tenant-a', 'PUT', '/evidence/retention', { default: 'PT1S' });
        await h.json('tenant-b', 'PUT', '/evidence/retention', { default: 'P3650D' });
        assert.equal((await h.json<{ default: string }>('tenant-a', 'GET', '/evidence/retention')).default, 'PT1S');
        await h.json('tenant-b', 'POST', '/evidence/incident', { active: true, reason: 'b only' });
        assert.equal((await h.json<{ active: boolean }>('tenant-a', 'GET', '/evidence/incident')).active, false);
        await sleep(1100);
        // B's purge never touches A's bundle; the worker pass (owner role enumerates, RLS per tenant) does.
        assert.deepEqual(
          (await h.json<{ purged: unknown[] }>('tenant-b', 'POST', '/evidence/retention/purge')).purged,
          [],
        );
        assert.equal((await h.call('tenant-a', 'GET', `/evidence/${a.bundleId}`)).status, 200);
        const results = await purgeAll({
          db: h.rt.db,
          store: h.rt.store,
          signingKey: h.rt.signingKey,
          settings: h.rt.config.serviceSettings['evidence-locker'] ?? {},
          log: { error: () => undefined, info: () => undefined },
        } as never);
        assert.deepEqual(
          results.get('tenant-a')!.purged.map((p) => p.bundleId),
          [a.bundleId],
        );
        assert.deepEqual(results.get('tenant-b')!.purged, []);
        // A sees 410 with the tombstone; B sees 404 exactly like a missing bundle, and no tombstones.
        assert.equal((await h.call('tenant-a', 'GET', `/evidence/${a.bundleId}`)).status, 410);
        const strip = async (r: Response) => {
          const { traceId: _t, ...rest } = (await r.json()) as ErrorBody & { traceId: string };
          return JSON.parse(JSON.stringify(rest).replace(/[0-9A-HJKMNP-TV-Z]{26}/g, 'ID')) as unknown;
        };
        const missingId = '01J00000000000000000000000';
        assert.deepEqual(
          await strip(await h.call('tenant-b', 'GET', `/evidence/${a.bundleId}`)),
          await strip(await h.call('tenant-b', 'GET', `/evidence/${missingId}`)),
        );
        assert.equal((await h.call('tenant-b', 'GET', `/evidence/tombstones/${a.bundleId}`)).status, 404);
        assert.deepEqual((await h.json<{ items: unknown[] }>('tenant-b', 'GET', '/evidence/tombstones')).items, []);
        // The app role: tombstones are append-only (no DELETE), and per tenant.
        await assert.rejects(
          h.rt.db.withTenant('tenant-a', (tx) => tx.query('DELETE FROM evidence_locker.tombstones')),
          (err: { code?: string }) => err.code === '42501',
        );
        const asB = await h.rt.db.withTenant('tenant-b', (tx) =>
          tx.query<{ n: string }>('SELECT count(*)::text AS n FROM evidence_locker.tombstones'),
        );
        assert.equal(asB.rows[0]!.n, '0');
      } finally {
        await h.close();
        await db.drop();
      }
    });

    test('a hold in flight while a purge runs: the purge skips the locked bundle, and it stays held', async () => {
      const db = await createTestDatabase('retention-race');
      const h = await harness({ STELLA_DATABASE_URL: db.url });
      try {
        const t = 'acme';
        const b = await h.seal(t, 'job', 'race');
        await h.json(t, 'PUT', '/evidence/retention', { default: 'PT1S' });
        await sleep(1100);
        // What the hold route does, held open: KEY SHARE on the bundle row, the hold and its membership.
        let commit!: () => void;
        const gate = new Promise<void>((r) => (commit = r));
        let locked!: () => void;
        const isLocked = new Promise<void>((r) => (locked = r));
        const holding = h.rt.db.withTenant(t, async (tx) => {
          await tx.query('SELECT 1 FROM evidence_locker.bundles WHERE bundle_id = $1 FOR KEY SHARE', [b.bundleId]);
          await tx.query(
            "INSERT INTO evidence_locker.holds (case_id, reason, created_by) VALUES ('race', 'r', 'test')",
          );
          await tx.query("INSERT INTO evidence_locker.hold_bundles (case_id, bundle_id) VALUES ('race', $1)", [
            b.bundleId,
          ]);
          locked();
          await gate;
        });
        await isLocked;
        const during = await h.json<{ purged: unknown[] }>(t, 'POST', '/evidence/retention/purge');
        assert.deepEqual(during.purged, [], 'the locked bundle is skipped, not waited for');
        commit();
        await holding;
        const after = await h.json<{ purged: unknown[] }>(t, 'POST', '/evidence/retention/purge');
        assert.deepEqual(after.purged, [], 'held now');
        assert.equal((await h.call(t, 'GET', `/evidence/${b.bundleId}`)).status, 200);
      } finally {
        await h.close();
        await db.drop();
      }
    });

    test('SIGKILL at each stage of a purge: the bundle or its tombstone, never neither; the next pass finishes', async () => {
      const db = await createTestDatabase('retention-kill');
      const h = await harness({ STELLA_DATABASE_URL: db.url });
      const child = fileURLToPath(new URL('./testing/purge-crash-child.ts', import.meta.url));
      try {
        const t = 'acme';
        await h.json(t, 'PUT', '/evidence/retention', { default: 'PT1S' });
        const stages = ['tombstone-signed', 'committed', 'object-removed'] as const;
        const sealed = new Map<string, string>();
        for (const s of stages) sealed.set(s, (await h.seal(t, 'job', `kill at ${s}`)).bundleId);
        await sleep(1100);
        const tombstones = async () =>
          (
            await h.rt.db.withTenant(t, (tx) =>
              tx.query<{ bundle_id: string; finished_at: Date | null }>(
                'SELECT bundle_id, finished_at FROM evidence_locker.tombstones',
              ),
            )
          ).rows;
        const bundles = async () =>
          (
            await h.rt.db.withTenant(t, (tx) =>
              tx.query<{ bundle_id: string }>('SELECT bundle_id FROM evidence_locker.bundles'),
            )
          ).rows.map((r) => r.bundle_id);

        for (const stage of stages) {
          const before = await bundles();
          const r = await run(
            process.execPath,
            [
              '--conditions=development',
              '--import',
              import.meta.resolve('tsx'),
              child,
              t,
              h.rt.signingKey,
              stage,
              sealed.get(stage)!,
            ],
            { cwd: h.dir, env: { ...process.env, STELLA_DATABASE_URL: db.url }, timeoutMs: 60_000 },
          );
          assert.equal(r.code, null, `killed at ${stage}: ${r.stderr.toString()}`);
          // Whichever bundle the child was on: present as a bundle XOR as a tombstone.
          const now = await bundles();
          const tombs = await tombstones();
          for (const id of before)
            assert.ok(now.includes(id) !== tombs.some((x) => x.bundle_id === id), `${stage}: ${id}`);
          if (stage === 'tombstone-signed') {
            assert.deepEqual(now, before, 'killed inside the transaction: nothing purged');
            assert.equal(tombs.length, 0);
          } else {
            const unfinished = tombs.filter((x) => x.finished_at === null);
            assert.equal(unfinished.length, 1, `${stage}: one tombstone awaits its objects`);
          }
        }
        // A normal pass finishes the interrupted ones and purges the rest; nothing is left behind.
        const pass = await h.json<{ purged: unknown[]; finished: number; pending: number }>(
          t,
          'POST',
          '/evidence/retention/purge',
        );
        assert.equal(pass.pending, 0);
        assert.deepEqual(await bundles(), []);
        const all = await tombstones();
        assert.equal(all.length, 3);
        assert.ok(all.every((x) => x.finished_at !== null));
        for (const id of sealed.values()) {
          assert.equal(await h.rt.store.exists(archiveKey(t, id)), false);
          assert.equal(await h.rt.store.exists(`evidence/${t}/tombstones/${id}.dsse.json`), true);
        }
        for (const s of stages) assert.equal(await h.rt.store.exists(blobKey(t, `kill at ${s}`)), false);
      } finally {
        await h.close();
        await db.drop();
      }
    });
  },
);
