/**
 * Export schedules on real PostgreSQL and on PGlite: the CRUD API and its bad input (an invalid
 * cron names its field, unknown time zone, two triggers, unknown or deleted profile, another
 * tenant's schedule, read-only scope), then the scheduler pass under an injected clock — a cron
 * fire creates one run, a replayed fire (same scheduled time) creates none, missed fires after
 * downtime follow `skip` / `catchUpOnce`, a deleted profile suspends the schedule, an event
 * trigger fires once per change after its quiet period — and the fire/run counters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createTestDatabase, needService } from '@stella/testkit';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { exportMetrics } from '../metrics.js';
import { createStagingSink } from '../bundle/staging-sink.js';
import { sealExportBundle } from '../bundle/seal-export.js';
import { exportSettings } from '../settings.js';
import { openLedger } from '../sources/ledger.js';
import { appendSourceRecords } from '../sources/source-store.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';
import { testJsonlAdapter } from '../testing/test-adapters.js';
import { runSchedulerPass, type SchedulerEnv } from './scheduler.js';

const skip = await needService('postgres');
const A = 'acme';
const B = 'globex';

for (const driver of ['postgres', 'pglite'] as const)
  describe(`export schedules on ${driver}`, { skip: driver === 'postgres' ? skip : false }, () => {
    let h: ExportHarness;
    let drop: (() => Promise<void>) | undefined;
    let env: SchedulerEnv;

    before(async () => {
      const db = driver === 'postgres' ? await createTestDatabase('export_sched') : undefined;
      drop = db?.drop;
      const jsonl = testJsonlAdapter((await import('node:os')).tmpdir());
      h = await startExportHarness({
        ...(db ? { databaseUrl: db.url } : {}),
        engine: { openLedger, adapters: new Map([[jsonl.id, jsonl]]), createStagingSink, sealExportBundle },
        env: { STELLA_EXPORT_POLL_MS: '50', STELLA_EXPORT_MISSED_FIRE_GRACE_MS: '60000' },
      });
      env = {
        db: h.db,
        engine: { openLedger },
        settings: exportSettings(h.deps.settings),
        log: { warn: () => undefined, info: () => undefined },
        metrics: exportMetrics(h.deps.metrics),
        firedBy: 'test-leader',
      };
    });
    after(async () => {
      await h?.close();
      await drop?.();
    });

    async function profile(tenant = A, options: Record<string, unknown> = {}): Promise<string> {
      const r = await h.call(tenant, 'POST', '/v1/exports/profiles', {
        name: 'p',
        adapter: 'test:jsonl',
        adapterOptions: options,
        filter: { kinds: ['vex'] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    }
    async function schedule(body: Record<string, unknown>, tenant = A): Promise<any> {
      const r = await h.call(tenant, 'POST', '/v1/exports/schedules', body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    }
    /** Moves a schedule's next fire (what a stale leader or downtime leaves behind). */
    const setNextFire = (id: string, at: Date) =>
      h.db.query('UPDATE export_center.export_schedules SET next_fire_at = $2 WHERE schedule_id = $1', [id, at]);
    const runsOf = async (tenant: string, profileId: string) =>
      (await h.call(tenant, 'GET', `/v1/exports/runs?profileId=${profileId}`)).body.items as any[];
    const fires = async (id: string) => (await h.call(A, 'GET', `/v1/exports/schedules/${id}/fires`)).body.items;

    test('bad input: the cron field is named, time zone checked, one trigger, profile must exist', async () => {
      const profileId = await profile();
      const bad = async (body: unknown, status = 400) => {
        const r = await h.call(A, 'POST', '/v1/exports/schedules', body);
        assert.equal(r.status, status, JSON.stringify(r.body));
        return r.body;
      };
      const minute = await bad({ profileId, cron: '61 * * * *', timeZone: 'UTC' });
      assert.equal(minute.code, 'EXPORT_SCHEDULE_INVALID');
      assert.deepEqual(minute.details.problems, [
        { path: '/cron', message: 'minute field "61" is invalid', cronField: 'minute' },
      ]);
      const hour = await bad({ profileId, cron: '0 x * * *', timeZone: 'UTC' });
      assert.equal(hour.details.problems[0].cronField, 'hour');
      assert.match((await bad({ profileId, cron: '* * *', timeZone: 'UTC' })).message, /\/cron must have 5 fields/);
      assert.match((await bad({ profileId, cron: '0 0 31 2 *', timeZone: 'UTC' })).message, /never fires/);
      const often = await bad({ profileId, cron: '*/5 * * * * *', timeZone: 'UTC' });
      assert.equal(often.details.problems[0].cronField, 'second');
      assert.match(often.message, /shortest interval allowed is 60 s/);
      const zone = await bad({ profileId, cron: '0 2 * * *', timeZone: 'Mars/Olympus' });
      assert.deepEqual(zone.details.problems, [
        { path: '/timeZone', message: 'is not an IANA time zone this server knows' },
      ]);
      assert.equal((await bad({ profileId, cron: '0 2 * * *' })).details.problems[0].path, '/timeZone');
      const both = await bad({
        profileId,
        cron: '0 2 * * *',
        timeZone: 'UTC',
        event: { kinds: ['vex'], quietPeriod: 'PT1M' },
      });
      assert.match(both.message, /exactly one trigger/);
      const ev = await bad({ profileId, event: { kinds: ['vex', 'nope'], quietPeriod: 'P1M' } });
      assert.deepEqual(
        ev.details.problems.map((p: { path: string }) => p.path),
        ['/event/kinds', '/event/quietPeriod'],
      );
      assert.equal(
        (await bad({ profileId, cron: '0 2 * * *', timeZone: 'UTC', missedFires: 'all' })).code,
        'EXPORT_SCHEDULE_INVALID',
      );
      // Unknown, another tenant's and deleted profiles: the same coded 404, nothing written.
      const unknown = await bad({ profileId: '01J00000000000000000000000', cron: '0 2 * * *', timeZone: 'UTC' }, 404);
      assert.equal(unknown.code, 'EXPORT_PROFILE_NOT_FOUND');
      const bProfile = await profile(B);
      assert.equal(
        (await bad({ profileId: bProfile, cron: '0 2 * * *', timeZone: 'UTC' }, 404)).code,
        'EXPORT_PROFILE_NOT_FOUND',
      );
      const gone = await profile();
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/profiles/${gone}`)).status, 204);
      assert.equal(
        (await bad({ profileId: gone, cron: '0 2 * * *', timeZone: 'UTC' }, 404)).code,
        'EXPORT_PROFILE_NOT_FOUND',
      );
      const listed = (await h.call(A, 'GET', `/v1/exports/schedules?profileId=${gone}`)).body.items;
      assert.deepEqual(listed, []);
    });

    test('CRUD: create (next fire in its time zone), list, get, replace, delete; tenants apart; scopes', async () => {
      const profileId = await profile();
      const s = await schedule({ profileId, name: 'nightly', cron: '0  2 * * *', timeZone: 'Europe/Berlin' });
      assert.equal(s.cron, '0 2 * * *');
      assert.equal(s.missedFires, 'skip');
      // 02:00 in Berlin is 00:00 or 01:00 UTC (summer/winter time).
      assert.match(s.nextFireAt, /T0[01]:00:00\.000Z$/);
      assert.equal((await h.call(A, 'GET', `/v1/exports/schedules/${s.id}`)).body.name, 'nightly');
      assert.ok((await h.call(A, 'GET', '/v1/exports/schedules')).body.items.some((x: any) => x.id === s.id));
      // Another tenant: 404 on read, write and delete, and an empty list.
      assert.equal((await h.call(B, 'GET', `/v1/exports/schedules/${s.id}`)).body.code, 'EXPORT_SCHEDULE_NOT_FOUND');
      assert.equal((await h.call(B, 'DELETE', `/v1/exports/schedules/${s.id}`)).status, 404);
      assert.deepEqual((await h.call(B, 'GET', '/v1/exports/schedules')).body.items, []);
      // Read scope cannot write.
      const ro = await h.fetch(A, 'POST', '/v1/exports/schedules', {
        json: { profileId, cron: '0 3 * * *', timeZone: 'UTC' },
        scopes: ['export:read'],
      });
      assert.equal(ro.status, 403);
      const put = await h.call(A, 'PUT', `/v1/exports/schedules/${s.id}`, {
        profileId,
        event: { kinds: ['vex', 'advisory'], quietPeriod: 'PT90S' },
        missedFires: 'catchUpOnce',
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body.event, { kinds: ['advisory', 'vex'], quietPeriod: 'PT1M30S' });
      assert.equal(put.body.nextFireAt, undefined);
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/schedules/${s.id}`)).status, 204);
      assert.equal((await h.call(A, 'GET', `/v1/exports/schedules/${s.id}`)).status, 404);
      // The audit log has every write.
      const audit = await h.db.withTenant(A, (tx) =>
        tx.query<{ action: string }>(`SELECT action FROM stella_platform.audit_log WHERE resource = $1 ORDER BY id`, [
          s.id,
        ]),
      );
      assert.deepEqual(
        audit.rows.map((r) => r.action),
        ['export.schedule.create', 'export.schedule.update', 'export.schedule.delete'],
      );
    });

    test('a cron fire creates one run; a replayed fire creates none; a deleted profile suspends', async () => {
      const profileId = await profile();
      const s = await schedule({ profileId, cron: '*/5 * * * *', timeZone: 'UTC' });
      const T = new Date('2026-06-01T10:05:00.000Z');
      await setNextFire(s.id, T);
      const first = await runSchedulerPass(env, new Date(T.getTime() + 1500));
      const mine = first.filter((f) => f.scheduleId === s.id);
      assert.equal(mine.length, 1);
      assert.equal(mine[0]!.result, 'run');
      const runs = await runsOf(A, profileId);
      assert.equal(runs.length, 1);
      assert.equal(runs[0].createdBy, 'system:export-scheduler');
      const after = (await h.call(A, 'GET', `/v1/exports/schedules/${s.id}`)).body;
      assert.equal(after.nextFireAt, '2026-06-01T10:10:00.000Z');
      assert.equal(after.lastRunId, runs[0].id);
      // A stale leader (or a retried pass) acts on the same scheduled time again: no second run.
      await setNextFire(s.id, T);
      const replay = (await runSchedulerPass(env, new Date(T.getTime() + 2500))).filter((f) => f.scheduleId === s.id);
      assert.deepEqual(
        replay.map((f) => f.result),
        ['duplicate'],
      );
      assert.equal((await runsOf(A, profileId)).length, 1);
      assert.deepEqual(
        (await fires(s.id)).map((f: any) => [f.scheduledFor, f.outcome, f.runId, f.firedBy]),
        [[T.toISOString(), 'run', runs[0].id, 'test-leader']],
      );
      // The app role cannot rewrite history.
      await assert.rejects(
        h.db.withTenant(A, (tx) => tx.query('DELETE FROM export_center.export_schedule_fires')),
        (err: { code?: string }) => err.code === '42501',
      );
      // The profile goes: the next fire suspends the schedule instead of failing forever.
      assert.equal((await h.call(A, 'DELETE', `/v1/exports/profiles/${profileId}`)).status, 204);
      const sus = (await runSchedulerPass(env, new Date('2026-06-01T10:10:01Z'))).filter((f) => f.scheduleId === s.id);
      assert.deepEqual(sus, [{ tenant: A, scheduleId: s.id, result: 'suspended', code: 'EXPORT_PROFILE_NOT_FOUND' }]);
      const got = (await h.call(A, 'GET', `/v1/exports/schedules/${s.id}`)).body;
      assert.equal(got.suspended.code, 'EXPORT_PROFILE_NOT_FOUND');
      assert.equal(
        (await runSchedulerPass(env, new Date('2026-06-01T11:00:01Z'))).filter((f) => f.scheduleId === s.id).length,
        0,
      );
      // The counters (on the app registry) saw it all.
      const text = await h.deps.metrics.metrics();
      assert.match(text, /stella_export_schedule_fires_total\{trigger="cron",result="run"\} [1-9]/);
      assert.match(text, /stella_export_schedule_fires_total\{trigger="cron",result="duplicate"\} [1-9]/);
      assert.match(text, /stella_export_schedule_fires_total\{trigger="cron",result="suspended"\} [1-9]/);
    });

    test('missed fires after downtime: skip runs nothing, catchUpOnce runs once for the latest', async () => {
      const T0 = new Date('2026-06-02T00:00:00.000Z');
      // Down from T0 to T0 + 62 min: 13 fires (every 5 minutes) all more than the 60 s grace late.
      const now = new Date(T0.getTime() + 62 * 60_000);
      const pSkip = await profile();
      const sSkip = await schedule({ profileId: pSkip, cron: '*/5 * * * *', timeZone: 'UTC', missedFires: 'skip' });
      const pOnce = await profile();
      const sOnce = await schedule({
        profileId: pOnce,
        cron: '*/5 * * * *',
        timeZone: 'UTC',
        missedFires: 'catchUpOnce',
      });
      await setNextFire(sSkip.id, T0);
      await setNextFire(sOnce.id, T0);
      const results = await runSchedulerPass(env, now);
      const bySchedule = (id: string) => results.filter((r) => r.scheduleId === id);
      assert.deepEqual(
        bySchedule(sSkip.id).map((r) => [r.result, (r as { missed: number }).missed]),
        [['skipped', 13]],
      );
      assert.deepEqual(
        bySchedule(sOnce.id).map((r) => [r.result, (r as { missed: number }).missed]),
        [['run', 12]],
      );
      assert.equal((await runsOf(A, pSkip)).length, 0);
      assert.equal((await runsOf(A, pOnce)).length, 1);
      assert.deepEqual(
        (await fires(sOnce.id)).map((f: any) => [f.scheduledFor, f.outcome, f.missed]),
        [['2026-06-02T01:00:00.000Z', 'run', 12]],
      );
      assert.deepEqual(
        (await fires(sSkip.id)).map((f: any) => [f.scheduledFor, f.outcome, f.missed]),
        [['2026-06-02T01:00:00.000Z', 'skipped', 13]],
      );
      // Both resume at the first fire after now.
      for (const id of [sSkip.id, sOnce.id])
        assert.equal(
          (await h.call(A, 'GET', `/v1/exports/schedules/${id}`)).body.nextFireAt,
          '2026-06-02T01:05:00.000Z',
        );
      // A year down: the missed count is capped (10 000, "at least"), the catch-up time is still exact.
      const pLong = await profile();
      const sLong = await schedule({
        profileId: pLong,
        cron: '*/5 * * * *',
        timeZone: 'UTC',
        missedFires: 'catchUpOnce',
      });
      await setNextFire(sLong.id, new Date(T0.getTime() - 365 * 86_400_000));
      const long = (await runSchedulerPass(env, now)).filter((r) => r.scheduleId === sLong.id);
      assert.deepEqual(
        long.map((r) => [
          r.result,
          (r as { missed: number }).missed,
          (r as { scheduledFor: Date }).scheduledFor.toISOString(),
        ]),
        [['run', 9999, '2026-06-02T01:00:00.000Z']],
      );
      assert.equal((await runsOf(A, pLong)).length, 1);
      // A fire only a little late (within the grace) is on time: it runs, whatever the policy.
      await setNextFire(sSkip.id, new Date('2026-06-02T01:05:00.000Z'));
      const late = await runSchedulerPass(env, new Date('2026-06-02T01:05:40.000Z'));
      assert.deepEqual(
        late.filter((r) => r.scheduleId === sSkip.id).map((r) => r.result),
        ['run'],
      );
    });

    test('an event trigger fires once per change, after its quiet period (debounced)', async () => {
      const profileId = await profile();
      const s = await schedule({ profileId, event: { kinds: ['vex'], quietPeriod: 'PT10S' } });
      const mineAt = async (at: number) =>
        (await runSchedulerPass(env, new Date(at))).filter((f) => f.scheduleId === s.id).map((f) => f.result);
      const t = Date.now();
      assert.deepEqual(await mineAt(t), [], 'nothing changed since creation');
      const vex = (id: string) => {
        const canonical = new TextDecoder().decode(canonicalJcsBytes({ id }));
        return {
          kind: 'vex' as const,
          recordId: id,
          format: 'openvex' as const,
          ecosystem: null,
          packages: [],
          severity: 'none' as const,
          modifiedAt: null,
          canonical,
          digest: `sha256:${createHash('sha256').update(canonical).digest('hex')}`,
          bytes: Buffer.byteLength(canonical),
        };
      };
      const append = (id: string) =>
        h.db.withTenant(A, (tx) => appendSourceRecords(tx, { tenant: A, global: false }, [vex(id)]));
      await append(`vex-${s.id}-1`);
      assert.deepEqual(await mineAt(t + 1000), [], 'change noted, quiet period starts');
      await append(`vex-${s.id}-2`);
      assert.deepEqual(await mineAt(t + 6000), [], 'another change restarts the quiet period');
      assert.deepEqual(await mineAt(t + 12_000), [], 'quiet for 6 s only');
      assert.deepEqual(await mineAt(t + 16_500), ['run']);
      assert.deepEqual(await mineAt(t + 40_000), [], 'no change since: no second run');
      // Another tenant's changes are not this schedule's.
      await h.db.withTenant(B, (tx) => appendSourceRecords(tx, { tenant: B, global: false }, [vex(`b-${s.id}`)]));
      assert.deepEqual(await mineAt(t + 60_000), []);
      const runs = await runsOf(A, profileId);
      assert.equal(runs.length, 1);
      const f = await fires(s.id);
      assert.equal(f.length, 1);
      assert.equal(f[0].scheduledFor, new Date(t + 6000 + 10_000).toISOString());
      assert.ok(BigInt(runs[0].ledgerSeq) >= BigInt(f[0].ledgerHead));
    });

    test('run outcomes are counted by outcome and failure class', async () => {
      await h.startWorker(1);
      const ok = await profile(A, {});
      const bad = await profile(A, { failClass: 'input' });
      for (const profileId of [ok, bad]) {
        const r = await h.call(A, 'POST', '/v1/exports/runs', { profileId });
        assert.equal(r.status, 202);
        await waitForRun(h, A, r.body.id);
      }
      const text = await h.deps.metrics.metrics();
      assert.match(text, /stella_export_runs_total\{outcome="succeeded",failure_class="none"\} [1-9]/);
      assert.match(text, /stella_export_runs_total\{outcome="failed",failure_class="input"\} 1/);
    });
  });
