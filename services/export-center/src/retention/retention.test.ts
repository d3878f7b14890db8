/**
 * Export retention on real PostgreSQL and on PGlite: per-profile keep-last-N and max-age policies
 * (bad input listed), legal holds on runs (never pruned, not even by SQL: the hold's foreign
 * key), pruning that deletes rows and objects and records what it pruned (pruned-run log, audit,
 * `export.pruned` outbox event), tenants apart, and a pass stopped between its commit and its
 * object deletes whose leftovers the next pass sweeps.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, needService } from '@stella/testkit';
import { createStagingSink } from '../bundle/staging-sink.js';
import { sealExportBundle } from '../bundle/seal-export.js';
import { runObjectPrefix } from '../settings.js';
import { openLedger } from '../sources/ledger.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';
import { testJsonlAdapter } from '../testing/test-adapters.js';
import { pruneAll, pruneTenant, type PruneEnv } from './prune.js';

const skip = await needService('postgres');
const A = 'acme';
const B = 'globex';

for (const driver of ['postgres', 'pglite'] as const)
  describe(`export retention on ${driver}`, { skip: driver === 'postgres' ? skip : false }, () => {
    let h: ExportHarness;
    let drop: (() => Promise<void>) | undefined;
    let env: PruneEnv;

    before(async () => {
      const db = driver === 'postgres' ? await createTestDatabase('export_retention') : undefined;
      drop = db?.drop;
      const jsonl = testJsonlAdapter((await import('node:os')).tmpdir());
      h = await startExportHarness({
        ...(db ? { databaseUrl: db.url } : {}),
        engine: { openLedger, adapters: new Map([[jsonl.id, jsonl]]), createStagingSink, sealExportBundle },
        env: { STELLA_EXPORT_POLL_MS: '50', STELLA_EXPORT_TENANT_CONCURRENCY: '4' },
      });
      env = { db: h.db, store: h.store, log: { warn: () => undefined, info: () => undefined } };
      await h.startWorker(2);
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });

    async function profile(tenant = A): Promise<string> {
      const r = await h.call(tenant, 'POST', '/v1/exports/profiles', {
        name: 'p',
        adapter: 'test:jsonl',
        filter: { kinds: ['vex'] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    }
    /** `n` finished runs of the profile, oldest first. */
    async function runs(profileId: string, n: number, tenant = A): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await h.call(tenant, 'POST', '/v1/exports/runs', { profileId });
        assert.equal(r.status, 202);
        assert.equal((await waitForRun(h, tenant, r.body.id)).status, 'succeeded');
        ids.push(r.body.id);
      }
      return ids;
    }
    const objects = async (tenant: string, runId: string) =>
      (await h.store.list(runObjectPrefix(tenant, runId))).items.map((i) => i.key);

    test('bad input: policies, holds, scopes, other tenants', async () => {
      const p = await profile();
      const put = (body: unknown, tenant = A, id = p) =>
        h.call(tenant, 'PUT', `/v1/exports/profiles/${id}/retention`, body);
      const bad = await put({ keepLast: 0, maxAge: 'P1M', keep: 1 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'EXPORT_RETENTION_INVALID');
      assert.deepEqual(
        bad.body.details.problems.map((x: { path: string }) => x.path),
        ['/keep', '/keepLast', '/maxAge'],
      );
      assert.equal((await put({})).body.code, 'EXPORT_RETENTION_INVALID');
      assert.equal((await put({ keepLast: 3 }, A, '01J00000000000000000000000')).body.code, 'EXPORT_PROFILE_NOT_FOUND');
      assert.equal((await put({ keepLast: 3 }, B)).status, 404, 'another tenant’s profile');
      assert.equal((await h.call(A, 'GET', `/v1/exports/profiles/${p}/retention`)).status, 404, 'no policy yet');
      const ok = await put({ keepLast: 3, maxAge: 'P30D' });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.maxAge, 'P30D');
      assert.equal((await h.call(B, 'GET', `/v1/exports/profiles/${p}/retention`)).status, 404);
      const ro = await h.fetch(A, 'PUT', `/v1/exports/profiles/${p}/retention`, {
        json: { keepLast: 1 },
        scopes: ['export:read'],
      });
      assert.equal(ro.status, 403);
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/profiles/${p}/retention`)).status, 204);
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/profiles/${p}/retention`)).status, 404);

      const [run] = await runs(p, 1);
      assert.equal((await h.call(A, 'POST', `/v1/exports/runs/${run}/hold`, {})).status, 400, 'reason required');
      const held = await h.call(A, 'POST', `/v1/exports/runs/${run}/hold`, { reason: 'case 42' });
      assert.equal(held.status, 201, JSON.stringify(held.body));
      assert.equal(held.body.createdBy, `user@${A}`);
      assert.equal(
        (await h.call(A, 'POST', `/v1/exports/runs/${run}/hold`, { reason: 'again' })).body.code,
        'EXPORT_RUN_HELD',
      );
      assert.equal(
        (await h.call(B, 'POST', `/v1/exports/runs/${run}/hold`, { reason: 'x' })).body.code,
        'EXPORT_RUN_NOT_FOUND',
      );
      assert.equal((await h.call(B, 'DELETE', `/v1/exports/runs/${run}/hold`)).body.code, 'EXPORT_HOLD_NOT_FOUND');
      const noScope = await h.fetch(A, 'DELETE', `/v1/exports/runs/${run}/hold`, {
        scopes: ['export:read', 'export:run', 'export:profile:manage'],
      });
      assert.equal(noScope.status, 403, 'holds need evidence:hold');
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/runs/${run}/hold`)).status, 204);
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/runs/${run}/hold`)).body.code, 'EXPORT_HOLD_NOT_FOUND');
      assert.equal(
        (await h.call(A, 'POST', '/v1/exports/runs/01J00000000000000000000000/hold', { reason: 'x' })).body.code,
        'EXPORT_RUN_NOT_FOUND',
      );
    });

    test('keepLast prunes rows and objects, never a held run; the log, audit and outbox say what went', async () => {
      const p = await profile();
      const ids = await runs(p, 4);
      for (const id of ids) assert.ok((await objects(A, id)).length > 0);
      assert.equal((await h.call(A, 'POST', `/v1/exports/runs/${ids[0]}/hold`, { reason: 'litigation' })).status, 201);
      // A held run's row cannot be deleted even by hand: the hold's foreign key refuses it.
      await assert.rejects(
        h.db.withTenant(A, async (tx) => {
          for (const t of ['export_run_events', 'export_inputs', 'export_distributions'])
            await tx.query(`DELETE FROM export_center.${t} WHERE run_id = $1`, [ids[0]]);
          await tx.query('DELETE FROM export_center.export_runs WHERE run_id = $1', [ids[0]]);
        }),
        (err: { code?: string }) => err.code === '23503',
      );
      assert.equal((await h.call(A, 'PUT', `/v1/exports/profiles/${p}/retention`, { keepLast: 2 })).status, 200);
      // Another tenant's prune touches nothing of A's.
      assert.deepEqual((await h.call(B, 'POST', '/v1/exports/retention/prune')).body.pruned, []);
      const pruned = await h.call(A, 'POST', '/v1/exports/retention/prune');
      assert.equal(pruned.status, 200, JSON.stringify(pruned.body));
      assert.deepEqual(pruned.body.pruned, [{ runId: ids[1], profileId: p, reason: 'keepLast' }]);
      assert.ok(pruned.body.objectsDeleted >= 1);
      assert.equal((await h.call(A, 'GET', `/v1/exports/runs/${ids[1]}`)).status, 404);
      assert.deepEqual(await objects(A, ids[1]!), []);
      for (const kept of [ids[0], ids[2], ids[3]]) {
        assert.equal((await h.call(A, 'GET', `/v1/exports/runs/${kept}`)).status, 200);
        assert.ok((await objects(A, kept!)).length > 0);
      }
      const log = (await h.call(A, 'GET', '/v1/exports/retention/pruned')).body.items;
      const entry = log.find((x: any) => x.runId === ids[1]);
      assert.deepEqual(
        { reason: entry.reason, policy: entry.policy, status: entry.status, objectsDeleted: entry.objectsDeleted },
        { reason: 'keepLast', policy: { keepLast: 2 }, status: 'succeeded', objectsDeleted: true },
      );
      assert.match(entry.archiveDigest, /^sha256:/);
      assert.deepEqual((await h.call(B, 'GET', '/v1/exports/retention/pruned')).body.items, []);
      const audit = await h.db.withTenant(A, (tx) =>
        tx.query<{ actor: string }>(
          `SELECT actor FROM stella_platform.audit_log WHERE action = 'export.run.prune' AND resource = $1`,
          [ids[1]],
        ),
      );
      assert.deepEqual(audit.rows, [{ actor: `user@${A}` }]);
      const events = await h.db.query<{ kind: string }>(
        `SELECT envelope->>'kind' AS kind FROM stella_platform.outbox WHERE tenant_id = $1 AND envelope->>'subject' = $2`,
        [A, ids[1]],
      );
      assert.ok(events.rows.some((e) => e.kind === 'export.pruned'));
      // The hold released, the oldest run goes at the next pass (the leader's periodic one here).
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/runs/${ids[0]}/hold`)).status, 204);
      const results = await pruneAll(env);
      assert.deepEqual(
        results.get(A)!.pruned.map((x) => x.runId),
        [ids[0]],
      );
      assert.equal((await h.call(A, 'GET', `/v1/exports/runs/${ids[0]}`)).status, 404);
    });

    test('maxAge prunes by finish time; a pass stopped after its commit leaves objects that the next one sweeps', async () => {
      const p = await profile();
      const ids = await runs(p, 2);
      assert.equal((await h.call(A, 'PUT', `/v1/exports/profiles/${p}/retention`, { maxAge: 'PT1H' })).status, 200);
      assert.deepEqual((await pruneTenant(env, A)).pruned, [], 'nothing is an hour old');
      // Two hours later, and the pass stops right after the rows' commit (as a crash would).
      const later = new Date(Date.now() + 2 * 3600_000);
      const first = await pruneTenant(env, A, { now: later, stopAfterRows: true });
      assert.deepEqual(
        first.pruned.map((x) => [x.runId, x.reason]),
        ids.map((id) => [id, 'maxAge']),
      );
      for (const id of ids) {
        assert.equal((await h.call(A, 'GET', `/v1/exports/runs/${id}`)).status, 404, 'rows gone');
        assert.ok((await objects(A, id)).length > 0, 'objects still there');
      }
      const pending = (await h.call(A, 'GET', '/v1/exports/retention/pruned')).body.items.filter((x: any) =>
        ids.includes(x.runId),
      );
      assert.deepEqual(
        pending.map((x: any) => x.objectsDeleted),
        [false, false],
      );
      const sweep = await pruneAll(env, later);
      assert.ok(sweep.get(A)!.objectsDeleted >= 2);
      for (const id of ids) assert.deepEqual(await objects(A, id), []);
      const done = (await h.call(A, 'GET', '/v1/exports/retention/pruned')).body.items.filter((x: any) =>
        ids.includes(x.runId),
      );
      assert.deepEqual(
        done.map((x: any) => x.objectsDeleted),
        [true, true],
      );
      // The pruned-run log is append-only for the app role.
      await assert.rejects(
        h.db.withTenant(A, (tx) => tx.query('DELETE FROM export_center.export_pruned_runs')),
        (err: { code?: string }) => err.code === '42501',
      );
    });
  });
