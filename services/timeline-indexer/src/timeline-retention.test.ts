/**
 * Partition maintenance and retention on PGlite (the same code runs on PostgreSQL in
 * timeline-pg.test.ts): partitions created ahead and idempotently, rows moved out of DEFAULT,
 * per-tenant retention purging row by row and by whole partitions, held events moved into
 * DEFAULT and kept until their hold is released, and dedupe after a purge. `now` is passed in,
 * so the tests move time instead of waiting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import type { Db } from '@stella/platform/db';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { runMaintenance, type MaintenanceSettings } from './maintenance.js';
import { ensurePartitions, rangeOf } from './partitions.js';
import { parseTenantRetention } from './retention.js';

let h: TimelineHarness;
before(async () => {
  h = await startTimelineHarness();
});
after(async () => {
  await h?.close();
});

const ev = (tenant: string, occurredAt: string, init: Partial<EventEnvelope> = {}): EventEnvelope =>
  newEvent({ tenant, kind: 'scan.completed', source: 'scanner', occurredAt, ...init });
const post = async (tenant: string, events: EventEnvelope[]) => {
  const res = await h.call(tenant, 'POST', '/timeline/events', { events });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { stored: number; duplicates: number };
};
const ids = async (tenant: string) =>
  ((await h.call(tenant, 'GET', '/timeline?limit=1000')).body.events as EventEnvelope[]).map((e) => e.eventId);

/** The range partitions of each partitioned table, by name. */
async function partitions(db: Db): Promise<string[]> {
  const r = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
     WHERE n.nspname = 'timeline' AND c.relname NOT LIKE '%_default' ORDER BY 1`,
  );
  return r.rows.map((x) => x.name);
}
const rowsIn = async (table: string) =>
  Number((await h.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM timeline.${table}`)).rows[0]!.n);

const settings = (over: Partial<MaintenanceSettings> = {}): MaintenanceSettings => ({
  interval: 'month',
  ahead: 2,
  everyMs: 3_600_000,
  retention: { defaultDays: 0, tenants: new Map() },
  ...over,
});

describe('partitions ahead', () => {
  test('rangeOf: UTC months, ISO weeks from Monday, days', () => {
    const t = new Date('2026-03-18T23:30:00Z'); // a Wednesday
    assert.deepEqual(rangeOf(t, 'month'), { from: new Date('2026-03-01Z'), to: new Date('2026-04-01Z') });
    assert.deepEqual(rangeOf(t, 'week'), { from: new Date('2026-03-16Z'), to: new Date('2026-03-23Z') });
    assert.deepEqual(rangeOf(t, 'day'), { from: new Date('2026-03-18Z'), to: new Date('2026-03-19Z') });
    assert.deepEqual(rangeOf(new Date('2026-12-31T12:00:00Z'), 'month').to, new Date('2027-01-01Z'));
  });

  test('creates the current and next ranges of every table, moving rows out of DEFAULT; idempotent', async () => {
    const t = 'part-a';
    const inMarch = ev(t, '2030-03-10T00:00:00Z', {
      evidence: [{ digest: `sha256:${'1'.repeat(64)}`, bundleId: 'b' }],
      payload: { large: 'x'.repeat(2000) }, // details too large to inline: an event_details row
    });
    const inJan = ev(t, '2029-01-05T00:00:00Z');
    await post(t, [inMarch, inJan]);
    const created = await ensurePartitions(h.db, settings(), new Date('2030-03-15T00:00:00Z'));
    // Now (March 2030) + 2 ahead, and January 2029 whose row waited in DEFAULT.
    assert.deepEqual(created, ['events_p20300301', 'events_p20300401', 'events_p20300501', 'events_p20290101']);
    const all = await partitions(h.db);
    for (const table of ['events', 'event_details', 'event_digests', 'evidence_links', 'event_arrivals'])
      for (const p of ['p20290101', 'p20300301', 'p20300401', 'p20300501']) assert.ok(all.includes(`${table}_${p}`));
    assert.equal(await rowsIn('events_p20300301'), 1);
    assert.equal(await rowsIn('event_details_p20300301'), 1);
    assert.equal(await rowsIn('evidence_links_p20300301'), 1);
    assert.equal(await rowsIn('event_arrivals_p20290101'), 1);
    assert.equal(
      Number(
        (
          await h.db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM timeline.events_default WHERE occurred_at >= '2029-01-01'`,
          )
        ).rows[0]!.n,
      ),
      0,
    );
    assert.deepEqual(await ensurePartitions(h.db, settings(), new Date('2030-03-15T00:00:00Z')), []);
    // The new partitions carry RLS and the app role's rights like the others.
    const asOther = await h.db.withTenant('part-b', (tx) =>
      tx.query<{ n: string }>('SELECT count(*)::text AS n FROM timeline.events_p20300301'),
    );
    assert.equal(asOther.rows[0]!.n, '0');
    await assert.rejects(
      h.db.withTenant(t, (tx) => tx.query('DELETE FROM timeline.events_p20300301')),
      (err: { code?: string }) => err.code === '42501',
    );
    // Queries read the moved rows as before.
    assert.deepEqual(await ids(t), [inJan.eventId, inMarch.eventId]);
    assert.equal((await h.call(t, 'GET', `/timeline/${inMarch.eventId}/evidence`)).body.evidence[0].bundleId, 'b');
  });

  test('the settings parse: tenant overrides', () => {
    assert.deepEqual(
      [...parseTenantRetention(' acme=30, audit-co=0 ,')],
      [
        ['acme', 30],
        ['audit-co', 0],
      ],
    );
    assert.throws(() => parseTenantRetention('acme'), /tenant=days/);
    assert.throws(() => parseTenantRetention('acme=1,acme=2'), /twice/);
    assert.throws(() => parseTenantRetention("a'b=1"), /tenant=days/);
  });
});

describe('retention', () => {
  test('per-tenant purge, whole-partition drop, held events moved to DEFAULT and kept until released', async () => {
    const [short, long, forever] = ['ret-short', 'ret-long', 'ret-forever'];
    const policy = {
      defaultDays: 400,
      tenants: new Map([
        [forever, 0],
        [short, 30],
      ]),
    };
    // A range of its own: June 2031.
    const june = (d: string) => `2031-06-${d}T12:00:00Z`;
    const sealed = ev(short, june('02'), {
      kind: 'evidence.bundle.sealed',
      source: 'evidence-locker',
      attributes: { bundleId: 'B-keep', kind: 'evaluation', leafCount: 1, rootHash: 'f'.repeat(64) },
      evidence: [{ bundleId: 'B-keep', digest: `sha256:${'e'.repeat(64)}` }],
    });
    const plain = ev(short, june('03'));
    const longOld = ev(long, june('04'));
    await post(short, [sealed, plain]);
    const holdPlaced = newEvent({
      tenant: short,
      kind: 'evidence.hold.placed',
      source: 'evidence-locker',
      subject: 'case-r',
      occurredAt: '2031-08-01T00:00:00Z',
      attributes: { caseId: 'case-r', bundles: 1 },
      payload: { bundleIds: ['B-keep'], reason: 'audit' },
    });
    await post(short, [holdPlaced]);
    await post(long, [longOld]);
    await ensurePartitions(h.db, settings({ ahead: 0 }), new Date('2031-06-15T00:00:00Z'));
    assert.ok((await partitions(h.db)).includes('events_p20310601'));

    // 2031-09-01: short (30 days) has expired June, long (400 days) has not → no drop, row purge of `plain`.
    let r = await runMaintenance(h.db, settings({ ahead: 0, retention: policy }), new Date('2031-09-01T00:00:00Z'));
    // (The 2029/2030 ranges of the first tests have expired for everyone by now: they go.)
    assert.deepEqual(r.dropped, ['events_p20290101', 'events_p20300301', 'events_p20300401', 'events_p20300501']);
    assert.ok(r.purged >= 1);
    // The held seal stays, and so does the hold event (linked to the bundle it holds); `plain` has expired.
    assert.deepEqual(await ids(short), [sealed.eventId, holdPlaced.eventId]);
    assert.deepEqual(await ids(long), [longOld.eventId]);
    assert.equal((await h.call(short, 'GET', `/timeline/${plain.eventId}`)).status, 404);

    // 2032-09-01: long has expired June 2031 too → the range is dropped, the held event moved to DEFAULT.
    r = await runMaintenance(h.db, settings({ ahead: 0, retention: policy }), new Date('2032-09-01T00:00:00Z'));
    assert.ok(r.dropped.includes('events_p20310601'), JSON.stringify(r));
    // The seal, and the hold event (August 2031's range goes too): both linked to the held bundle.
    assert.equal(r.movedHeld, 2);
    assert.ok(!(await partitions(h.db)).some((p) => p.endsWith('_p20310601')));
    assert.deepEqual(await ids(long), []);
    const kept = await h.call(short, 'GET', `/timeline/${sealed.eventId}`);
    assert.equal(kept.status, 200);
    assert.deepEqual(kept.body.legalHolds, ['case-r']);
    assert.equal(
      (await h.call(short, 'GET', `/timeline/${sealed.eventId}/evidence`)).body.evidence[0].bundle.rootHash,
      'f'.repeat(64),
    );
    assert.equal((await h.call(short, 'GET', `/timeline?digest=sha256:${'f'.repeat(64)}`)).body.events.length, 1);
    const inDefault = await h.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM timeline.events_default WHERE tenant_id = 'ret-short' AND occurred_at < '2031-07-01'",
    );
    assert.equal(inDefault.rows[0]!.n, '1');
    // The dropped range is not created again for the held row waiting in DEFAULT.
    assert.deepEqual(await ensurePartitions(h.db, settings({ ahead: 0 }), new Date('2032-09-01T00:00:00Z')), []);
    // Dedupe: the held event still exists, so a copy is a duplicate; the purged one is gone from event_ids.
    assert.equal((await post(short, [sealed])).duplicates, 1);
    const idsLeft = await h.db.withTenant(short, (tx) =>
      tx.query<{ event_id: string }>('SELECT event_id FROM timeline.event_ids WHERE event_id = ANY($1)', [
        [plain.eventId, sealed.eventId],
      ]),
    );
    assert.deepEqual(
      idsLeft.rows.map((x) => x.event_id),
      [sealed.eventId],
    );

    // Released: the next round purges the event from DEFAULT.
    await post(short, [
      newEvent({
        tenant: short,
        kind: 'evidence.hold.released',
        source: 'evidence-locker',
        subject: 'case-r',
        occurredAt: '2032-08-31T00:00:00Z',
        attributes: { caseId: 'case-r', bundles: 1 },
        payload: { bundleIds: ['B-keep'], reason: 'closed' },
      }),
    ]);
    r = await runMaintenance(h.db, settings({ ahead: 0, retention: policy }), new Date('2032-09-01T00:00:00Z'));
    assert.equal((await h.call(short, 'GET', `/timeline/${sealed.eventId}`)).status, 404);
    assert.equal((await h.call(short, 'GET', `/timeline/${holdPlaced.eventId}`)).status, 404);
    // Published again after its purge, the event is new (first write wins while it exists).
    assert.equal((await post(short, [sealed])).stored, 1);
  });

  test('a tenant that keeps events forever keeps its partition; another tenant is purged row by row', async () => {
    const [keep, go] = ['keep-forever', 'go-soon'];
    const policy = { defaultDays: 10, tenants: new Map([[keep, 0]]) };
    const k = ev(keep, '2033-02-10T00:00:00Z');
    const g = ev(go, '2033-02-11T00:00:00Z');
    await post(keep, [k]);
    await post(go, [g]);
    await ensurePartitions(h.db, settings({ ahead: 0 }), new Date('2033-02-15T00:00:00Z'));
    const r = await runMaintenance(h.db, settings({ ahead: 0, retention: policy }), new Date('2034-01-01T00:00:00Z'));
    assert.ok(!r.dropped.includes('events_p20330201'));
    assert.deepEqual(await ids(keep), [k.eventId]);
    assert.deepEqual(await ids(go), []);
    assert.equal(await rowsIn('events_p20330201'), 1);
  });
});
