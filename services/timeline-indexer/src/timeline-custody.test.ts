/**
 * Custody and incident events on the timeline (PGlite), shaped exactly like the Evidence Locker's
 * outbox events (services/evidence-locker/src/custody.ts, routes/holds.ts, routes/incident.ts):
 * custody and hold events are linked to the bundles they name outside their envelope (`origin`),
 * carry the bundle's hold markers and seal; each bundle link lists its chain of custody; an event
 * is linked to the incidents active when it occurred and an incident event to its own, whatever
 * order the activation and deactivation arrive in; another tenant sees none of it. End to end
 * through the real Evidence Locker: server/src/timeline-custody.e2e.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';

let h: TimelineHarness;
before(async () => {
  h = await startTimelineHarness();
});
after(async () => {
  await h?.close();
});

const hex = (c: string) => c.repeat(64);
const at = (minute: number) => new Date(Date.parse('2026-04-01T10:00:00Z') + minute * 60_000).toISOString();

/** `recordCustody` in services/evidence-locker/src/custody.ts. */
function custody(
  tenant: string,
  action: string,
  minute: number,
  bundleId?: string,
  details?: Record<string, unknown>,
  evidence?: EventEnvelope['evidence'],
): EventEnvelope {
  return newEvent({
    tenant,
    kind: `evidence.custody.${action}`,
    source: 'evidence-locker',
    actor: 'auditor-1',
    subject: bundleId ?? tenant,
    occurredAt: at(minute),
    attributes: { action, ...(bundleId ? { bundleId } : {}) },
    ...(details ? { payload: details } : {}),
    ...(evidence ? { evidence } : {}),
  });
}
const sealed = (tenant: string, bundleId: string, minute: number) =>
  newEvent({
    tenant,
    kind: 'evidence.bundle.sealed',
    source: 'evidence-locker',
    occurredAt: at(minute),
    subject: bundleId,
    attributes: { bundleId, kind: 'evaluation', leafCount: 2, rootHash: hex('a') },
    evidence: [{ bundleId, digest: `sha256:${hex('b')}`, manifestDigest: `sha256:${hex('d')}` }],
  });
const hold = (tenant: string, placed: boolean, caseId: string, bundleIds: string[], minute: number) =>
  newEvent({
    tenant,
    kind: placed ? 'evidence.hold.placed' : 'evidence.hold.released',
    source: 'evidence-locker',
    occurredAt: at(minute),
    subject: caseId,
    attributes: { caseId, bundles: bundleIds.length },
    payload: { bundleIds, reason: placed ? 'litigation' : 'settled' },
  });
/** routes/incident.ts: the event of the change (the custody row's event comes beside it). */
const incident = (tenant: string, active: boolean, id: string, minute: number, reason: string) =>
  newEvent({
    tenant,
    kind: `evidence.incident.${active ? 'activated' : 'deactivated'}`,
    source: 'evidence-locker',
    occurredAt: at(minute),
    subject: `incident/${id}`,
    attributes: { incidentId: id, active },
    payload: { incidentId: id, reason, retentionExtension: 'P30D' },
  });

const post = async (tenant: string, events: EventEnvelope[]) => {
  const res = await h.call(tenant, 'POST', '/timeline/events', { events });
  assert.equal(res.status, 200, JSON.stringify(res.body));
};
const evidenceOf = async (tenant: string, id: string) => {
  const res = await h.call(tenant, 'GET', `/timeline/${id}/evidence`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { evidence: any[]; incidents?: any[] };
};

describe('custody events', () => {
  test('a custody event without references is linked to its bundle: seal, holds, chain of custody', async () => {
    const t = 'cust-a';
    const seal = sealed(t, 'B-c', 0);
    const sealCustody = custody(t, 'seal', 0, 'B-c', { rootHash: hex('a') }, seal.evidence);
    const dl = custody(t, 'download', 5, 'B-c', undefined, seal.evidence);
    const placed = hold(t, true, 'case-9', ['B-c', 'B-unsealed'], 10);
    const holdCustody = custody(t, 'hold', 10, 'B-c', { caseId: 'case-9', reason: 'litigation' });
    // Out of order: the hold's custody row first, the seal last.
    await post(t, [holdCustody, placed]);
    await post(t, [dl, sealCustody, seal]);

    const own = await evidenceOf(t, holdCustody.eventId);
    assert.equal(own.evidence.length, 1);
    const link = own.evidence[0];
    assert.equal(link.origin, 'custody');
    assert.equal(link.bundleId, 'B-c');
    // No digest of its own: the bundle's archive digest, from its seal.
    assert.equal(link.digest, `sha256:${hex('b')}`);
    assert.deepEqual(link.dsseEnvelope, { href: '/evidence/B-c/download', path: 'signature.json' });
    assert.equal(link.bundle.sealedEventId, seal.eventId);
    assert.equal(link.bundle.rootHash, hex('a'));
    assert.deepEqual(link.legalHolds, ['case-9']);
    assert.deepEqual(
      link.custody.map((c: { action: string; eventId: string }) => [c.action, c.eventId]),
      [
        ['seal', sealCustody.eventId],
        ['download', dl.eventId],
        ['hold', holdCustody.eventId],
      ],
    );
    assert.equal(link.custody[0].actor, 'auditor-1');
    assert.equal(link.custody[0].occurredAt, at(0));
    assert.equal(own.incidents, undefined);

    // The seal's own link (an envelope reference) has the same trail; no origin.
    const bySeal = (await evidenceOf(t, seal.eventId)).evidence[0];
    assert.equal(bySeal.origin, undefined);
    assert.equal(bySeal.custody.length, 3);

    // The custody event itself carries the bundle's hold marker (and is exempt from retention).
    const got = await h.call(t, 'GET', `/timeline/${holdCustody.eventId}`);
    assert.deepEqual(got.body.legalHolds, ['case-9']);
  });

  test('a hold event is linked to every bundle it names; an unsealed one has no digest yet', async () => {
    const t = 'cust-b';
    const placed = hold(t, true, 'case-1', ['B-1', 'B-2'], 0);
    await post(t, [sealed(t, 'B-1', 0), placed]);
    const links = (await evidenceOf(t, placed.eventId)).evidence;
    assert.deepEqual(
      links.map((l) => [l.origin, l.bundleId, l.digest]),
      [
        ['hold', 'B-1', `sha256:${hex('b')}`],
        ['hold', 'B-2', undefined],
      ],
    );
    assert.deepEqual(links[0].legalHolds, ['case-1']);
    assert.equal(links[1].bundle, undefined);
    // Released: the markers go, the links stay.
    const released = hold(t, false, 'case-1', ['B-1', 'B-2'], 30);
    await post(t, [released]);
    const after = (await evidenceOf(t, placed.eventId)).evidence;
    assert.equal(after.length, 2);
    assert.equal(after[0].legalHolds, undefined);
    assert.equal((await h.call(t, 'GET', `/timeline/${placed.eventId}`)).body.legalHolds, undefined);
    assert.deepEqual(
      (await evidenceOf(t, released.eventId)).evidence.map((l) => l.bundleId),
      ['B-1', 'B-2'],
    );
  });

  test('a custody event that references its bundle in the envelope is not linked twice; malformed ones derive nothing', async () => {
    const t = 'cust-c';
    const seal = sealed(t, 'B-x', 0);
    const verified = custody(t, 'verify', 1, 'B-x', { valid: true }, seal.evidence);
    const noBundle = custody(t, 'download', 2);
    const badBundle = newEvent({
      tenant: t,
      kind: 'evidence.custody.hold',
      source: 'evidence-locker',
      attributes: { action: 'hold', bundleId: 42 },
    });
    const badHold = newEvent({
      tenant: t,
      kind: 'evidence.hold.placed',
      source: 'evidence-locker',
      attributes: { caseId: 'c' },
      payload: { bundleIds: 'B-x' },
    });
    await post(t, [seal, verified, noBundle, badBundle, badHold]);
    const v = (await evidenceOf(t, verified.eventId)).evidence;
    assert.equal(v.length, 1);
    assert.equal(v[0].origin, undefined);
    for (const e of [noBundle, badBundle, badHold]) assert.deepEqual((await evidenceOf(t, e.eventId)).evidence, []);
  });
});

describe('incident events', () => {
  test('events are linked to the incidents active when they occurred; incident events to their own', async () => {
    const t = 'inc-a';
    const before = newEvent({ tenant: t, kind: 'scan.completed', source: 'scanner', occurredAt: at(0) });
    const on = incident(t, true, '7', 10, 'INC-7: token leak');
    const onCustody = custody(t, 'incident-activated', 10, undefined, { incidentId: '7', reason: 'INC-7: token leak' });
    const during = newEvent({ tenant: t, kind: 'scan.completed', source: 'scanner', occurredAt: at(20) });
    const off = incident(t, false, '7', 30, 'contained');
    const afterwards = newEvent({ tenant: t, kind: 'scan.completed', source: 'scanner', occurredAt: at(40) });
    // The deactivation arrives first.
    await post(t, [off, afterwards, before]);
    // Until the activation arrives, nothing is known to have been active at minute 20.
    await post(t, [during]);
    assert.equal((await evidenceOf(t, during.eventId)).incidents, undefined);
    await post(t, [on, onCustody]);

    const expected = {
      incidentId: '7',
      active: false,
      activatedAt: at(10),
      activatedEventId: on.eventId,
      activateReason: 'INC-7: token leak',
      deactivatedAt: at(30),
      deactivatedEventId: off.eventId,
      deactivateReason: 'contained',
    };
    assert.deepEqual((await evidenceOf(t, during.eventId)).incidents, [expected]);
    for (const e of [on, off, onCustody])
      assert.deepEqual((await evidenceOf(t, e.eventId)).incidents, [expected], e.kind);
    assert.equal((await evidenceOf(t, before.eventId)).incidents, undefined);
    assert.equal((await evidenceOf(t, afterwards.eventId)).incidents, undefined);

    // A second incident, still active: linked to events from its start on.
    const on2 = incident(t, true, '8', 50, 'INC-8');
    const later = newEvent({ tenant: t, kind: 'scan.completed', source: 'scanner', occurredAt: at(60) });
    await post(t, [on2, later]);
    const linked = (await evidenceOf(t, later.eventId)).incidents!;
    assert.deepEqual(
      linked.map((i) => [i.incidentId, i.active]),
      [['8', true]],
    );
    // A replayed activation (another eventId) does not overwrite the first.
    await post(t, [incident(t, true, '8', 55, 'replayed')]);
    assert.equal((await evidenceOf(t, later.eventId)).incidents![0].activateReason, 'INC-8');
  });

  test("another tenant sees none of it: no incidents, custody or derived links of A's", async () => {
    const [A, B] = ['inc-iso-a', 'inc-iso-b'];
    await post(A, [incident(A, true, '1', 0, 'INC-A'), sealed(A, 'B-shared-name', 0)]);
    await post(A, [custody(A, 'download', 1, 'B-shared-name'), hold(A, true, 'case-a', ['B-shared-name'], 1)]);
    // B has a bundle of the same id and an event inside A's incident window.
    const bEvent = newEvent({ tenant: B, kind: 'scan.completed', source: 'scanner', occurredAt: at(5) });
    const bCustody = custody(B, 'verify', 6, 'B-shared-name');
    await post(B, [bEvent, bCustody]);
    assert.equal((await evidenceOf(B, bEvent.eventId)).incidents, undefined);
    const link = (await evidenceOf(B, bCustody.eventId)).evidence[0];
    assert.equal(link.bundleId, 'B-shared-name');
    assert.equal(link.bundle, undefined); // A's seal
    assert.equal(link.legalHolds, undefined); // A's hold
    assert.deepEqual(
      link.custody.map((c: { eventId: string }) => c.eventId),
      [bCustody.eventId],
    );
    const rows = await h.db.withTenant(B, (tx) =>
      tx.query('SELECT 1 FROM timeline.evidence_incidents WHERE tenant_id = $1', [A]),
    );
    assert.equal(rows.rows.length, 0);
  });
});
