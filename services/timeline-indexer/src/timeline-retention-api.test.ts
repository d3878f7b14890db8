/**
 * The tenant's retention window over HTTP (PGlite): GET/PUT/DELETE /timeline/retention, scopes
 * (`timeline:admin` to change it), tenant isolation (B neither reads nor changes A's), bad input
 * (negative, zero, sub-hour, months, absurd, wrong type → 400 VALIDATION_FAILED, nothing
 * changed), and the maintenance worker applying the tenant's own window over the configuration's
 * — held events still exempt.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import type { Scope } from '@stella/platform/auth';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { runMaintenance, type MaintenanceSettings } from './maintenance.js';
import { ensurePartitions } from './partitions.js';
import { formatDuration, parseDuration } from './retention.js';

let h: TimelineHarness;
before(async () => {
  h = await startTimelineHarness({ env: { STELLA_TIMELINE_RETENTION_TENANTS: 'ret-api-b=400' } });
});
after(async () => {
  await h?.close();
});

const ADMIN: Scope[] = ['timeline:read', 'timeline:write', 'timeline:admin'];
const get = (tenant: string) => h.call(tenant, 'GET', '/timeline/retention');
const put = (tenant: string, body: unknown, scopes: Scope[] = ADMIN) =>
  h.call(tenant, 'PUT', '/timeline/retention', body, scopes);
const ev = (tenant: string, occurredAt: string, init: Partial<EventEnvelope> = {}): EventEnvelope =>
  newEvent({ tenant, kind: 'scan.completed', source: 'scanner', occurredAt, ...init });
const post = async (tenant: string, events: EventEnvelope[]) => {
  const res = await h.call(tenant, 'POST', '/timeline/events', { events });
  assert.equal(res.status, 200, JSON.stringify(res.body));
};
const ids = async (tenant: string) =>
  ((await h.call(tenant, 'GET', '/timeline?limit=1000')).body.events as EventEnvelope[]).map((e) => e.eventId).sort();

describe('retention API', () => {
  test('durations: the fixed-length ISO 8601 parts, one canonical spelling', () => {
    assert.equal(parseDuration('P30D'), 30 * 86_400);
    assert.equal(parseDuration('P1DT12H'), 36 * 3600);
    assert.equal(parseDuration('PT90M'), 5400);
    for (const bad of ['P1M', 'P1Y', 'P-1D', '-P1D', 'P', 'PT', '30', 'P1.5D', 'p30d'])
      assert.equal(parseDuration(bad), undefined, bad);
    assert.equal(formatDuration(36 * 3600), 'P1DT12H');
    assert.equal(formatDuration(5400), 'PT1H30M');
  });

  test('GET shows the configured window; PUT sets the tenant’s own; DELETE goes back', async () => {
    const [A, B] = ['ret-api-a', 'ret-api-b'];
    assert.deepEqual((await get(A)).body, { keep: null, from: 'configuration', heldExempt: true });
    assert.deepEqual((await get(B)).body, { keep: 'P400D', from: 'configuration', heldExempt: true });

    const set = await put(A, { keep: 'P30D' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.keep, 'P30D');
    assert.equal(set.body.from, 'tenant');
    assert.equal(set.body.updatedBy, 'dev-user');
    assert.ok(!Number.isNaN(Date.parse(set.body.updatedAt)));
    assert.deepEqual((await get(A)).body, set.body);
    // Non-canonical spellings are stored as seconds and shown canonically.
    assert.equal((await put(A, { keep: 'PT36H' })).body.keep, 'P1DT12H');
    assert.equal((await put(A, { keep: null })).body.keep, null); // forever, the tenant's choice
    assert.equal((await get(A)).body.from, 'tenant');

    // Audited, in the tenant's own audit log.
    const audit = await h.db.withTenant(A, (tx) =>
      tx.query<{ action: string }>(
        "SELECT action FROM stella_platform.audit_log WHERE action LIKE 'timeline.retention.%' ORDER BY id",
      ),
    );
    assert.deepEqual(
      audit.rows.map((r) => r.action),
      ['timeline.retention.update', 'timeline.retention.update', 'timeline.retention.update'],
    );

    const reset = await h.call(A, 'DELETE', '/timeline/retention', undefined, ADMIN);
    assert.equal(reset.status, 200);
    assert.deepEqual(reset.body, { keep: null, from: 'configuration', heldExempt: true });
  });

  test('tenant B can neither read nor change tenant A’s window', async () => {
    const [A, B] = ['ret-iso-a', 'ret-iso-b'];
    assert.equal((await put(A, { keep: 'P7D' })).status, 200);
    // B sees its own (configured) window, never A's.
    assert.deepEqual((await get(B)).body, { keep: null, from: 'configuration', heldExempt: true });
    // B's token cannot address A: the tenant header must match the token.
    const forged = await h.app.inject({
      method: 'PUT',
      url: '/timeline/retention',
      headers: {
        authorization: `Bearer ${await h.token(B, ADMIN)}`,
        'x-stella-tenant': A,
        'content-type': 'application/json',
      },
      payload: JSON.stringify({ keep: 'PT1H' }),
    });
    assert.equal(forged.statusCode, 403);
    assert.equal(forged.json().code, 'TENANT_FORBIDDEN');
    // B's own PUT and DELETE touch B's row only.
    assert.equal((await put(B, { keep: 'P1D' })).status, 200);
    assert.equal((await h.call(B, 'DELETE', '/timeline/retention', undefined, ADMIN)).status, 200);
    assert.equal((await get(A)).body.keep, 'P7D');
    // Not even the database shows B another tenant's row.
    const seen = await h.db.withTenant(B, (tx) =>
      tx.query('SELECT tenant_id FROM timeline.retention_settings WHERE tenant_id = $1', [A]),
    );
    assert.equal(seen.rows.length, 0);
  });

  test('changing needs timeline:admin; reading needs timeline:read', async () => {
    const t = 'ret-scope';
    const denied = await put(t, { keep: 'P30D' }, ['timeline:read', 'timeline:write']);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, 'SCOPE_FORBIDDEN');
    assert.equal((await h.call(t, 'DELETE', '/timeline/retention', undefined, ['timeline:write'])).status, 403);
    assert.equal((await h.call(t, 'GET', '/timeline/retention', undefined, ['timeline:write'])).status, 403);
    assert.equal((await h.call(t, 'GET', '/timeline/retention', undefined, ['timeline:read'])).status, 200);
    assert.equal((await get(t)).body.from, 'configuration');
  });

  test('bad windows are 400 VALIDATION_FAILED and change nothing', async () => {
    const t = 'ret-bad';
    assert.equal((await put(t, { keep: 'P90D' })).status, 200);
    const cases: [unknown, RegExp][] = [
      [{ keep: 'P-1D' }, /keep/],
      [{ keep: '-P1D' }, /keep/],
      [{ keep: 'PT0S' }, /at least PT1H/],
      [{ keep: 'PT59M' }, /at least PT1H/],
      [{ keep: 'P36501D' }, /at most P36500D/],
      [{ keep: 'P999999D' }, /at most P36500D/],
      [{ keep: 'PT9999999999S' }, /at most P36500D/],
      [{ keep: 'P1M' }, /keep/],
      [{ keep: 'P1Y' }, /keep/],
      [{ keep: 30 }, /keep/],
      [{ keep: '' }, /keep/],
      [{}, /keep/],
      [{ keep: 'P30D', extra: 1 }, /./],
    ];
    for (const [body, message] of cases) {
      const res = await put(t, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.code, 'VALIDATION_FAILED', JSON.stringify(res.body));
      assert.match(JSON.stringify(res.body), message, JSON.stringify(body));
    }
    assert.equal((await get(t)).body.keep, 'P90D');
  });
});

describe('the retention worker uses the tenant’s window', () => {
  const settings = (over: Partial<MaintenanceSettings> = {}): MaintenanceSettings => ({
    interval: 'month',
    ahead: 0,
    everyMs: 3_600_000,
    retention: { defaultDays: 0, tenants: new Map([['ret-w-forever', 1]]) },
    ...over,
  });

  test('its own window purges (held events exempt); its own "forever" beats a configured day', async () => {
    const [short, forever, configured] = ['ret-w-short', 'ret-w-forever', 'ret-w-config'];
    const at = (d: string) => `2040-05-${d}T12:00:00Z`;
    const sealed = ev(short, at('01'), {
      kind: 'evidence.bundle.sealed',
      source: 'evidence-locker',
      attributes: { bundleId: 'B-w', kind: 'evaluation', leafCount: 1, rootHash: 'c'.repeat(64) },
      evidence: [{ bundleId: 'B-w', digest: `sha256:${'c'.repeat(64)}` }],
    });
    const old = ev(short, at('02'));
    const recent = ev(short, '2040-07-30T00:00:00Z');
    await post(short, [sealed, old, recent]);
    await post(short, [
      newEvent({
        tenant: short,
        kind: 'evidence.hold.placed',
        source: 'evidence-locker',
        subject: 'case-w',
        occurredAt: at('03'),
        attributes: { caseId: 'case-w', bundles: 1 },
        payload: { bundleIds: ['B-w'], reason: 'audit' },
      }),
    ]);
    const f = ev(forever, at('04'));
    const c = ev(configured, at('05'));
    await post(forever, [f]);
    await post(configured, [c]);
    await ensurePartitions(h.db, settings(), new Date('2040-05-15T00:00:00Z'));

    assert.equal((await put(short, { keep: 'P30D' })).status, 200);
    assert.equal((await put(forever, { keep: null })).status, 200);
    const r = await runMaintenance(h.db, settings(), new Date('2040-08-01T00:00:00Z'));
    assert.ok(r.purged >= 1, JSON.stringify(r));
    // short: `old` is gone, the seal (held) and the recent event stay.
    const left = await ids(short);
    assert.ok(!left.includes(old.eventId));
    assert.ok(left.includes(sealed.eventId) && left.includes(recent.eventId), JSON.stringify(left));
    // forever: configured to 1 day, its own setting keeps it.
    assert.deepEqual(await ids(forever), [f.eventId]);
    // configured: default 0 = forever.
    assert.deepEqual(await ids(configured), [c.eventId]);
    // The range stays: forever and configured still need it.
    assert.ok(!r.dropped.includes('events_p20400501'));

    // Back to the configuration (1 day) → the next round purges it.
    assert.equal((await h.call(forever, 'DELETE', '/timeline/retention', undefined, ADMIN)).status, 200);
    await runMaintenance(h.db, settings(), new Date('2040-08-01T00:00:00Z'));
    assert.deepEqual(await ids(forever), []);
  });
});
