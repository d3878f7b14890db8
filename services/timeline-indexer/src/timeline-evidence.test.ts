/**
 * Evidence links and legal holds on PGlite: `evidence.*` events shaped exactly like the Evidence
 * Locker's outbox events (services/evidence-locker/src/routes/snapshot.ts, holds.ts) link events
 * to bundles (root, manifest digest, DSSE location) and put hold markers on the events linked to
 * held bundles, in query results, by id and on the stream. End to end through the real Evidence
 * Locker: server/src/timeline-evidence.e2e.test.ts.
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

let n = 0;
const freshTenant = () => `e${++n}-${Date.now().toString(36)}`;
const hex = (c: string) => c.repeat(64);

/** What the Evidence Locker publishes when it seals `bundleId` (snapshot.ts). */
function sealedEvent(tenant: string, bundleId: string, c: string, occurredAt?: string): EventEnvelope {
  return newEvent({
    tenant,
    kind: 'evidence.bundle.sealed',
    source: 'evidence-locker',
    subject: `sha256:${hex('5')}`,
    attributes: { bundleId, kind: 'evaluation', leafCount: 4, rootHash: hex(c) },
    evidence: [{ bundleId, digest: `sha256:${hex('b')}`, manifestDigest: `sha256:${hex('d')}` }],
    ...(occurredAt ? { occurredAt } : {}),
  });
}
/** What the Evidence Locker publishes when it places or releases hold `caseId` (holds.ts). */
function holdEvent(
  tenant: string,
  placed: boolean,
  caseId: string,
  bundleIds: string[],
  occurredAt?: string,
): EventEnvelope {
  return newEvent({
    tenant,
    kind: placed ? 'evidence.hold.placed' : 'evidence.hold.released',
    source: 'evidence-locker',
    subject: caseId,
    attributes: { caseId, bundles: bundleIds.length },
    payload: { bundleIds, reason: placed ? 'litigation' : 'case closed' },
    ...(occurredAt ? { occurredAt } : {}),
  });
}
const downloaded = (tenant: string, bundleId: string) =>
  newEvent({
    tenant,
    kind: 'evidence.bundle.downloaded',
    source: 'evidence-locker',
    subject: bundleId,
    evidence: [{ bundleId, digest: `sha256:${hex('b')}`, manifestDigest: `sha256:${hex('d')}` }],
  });

const post = async (tenant: string, events: EventEnvelope[]) => {
  const res = await h.call(tenant, 'POST', '/timeline/events', { events });
  assert.equal(res.status, 200, JSON.stringify(res.body));
};
const holdsOf = async (tenant: string, eventId: string) =>
  (await h.call(tenant, 'GET', `/timeline/${eventId}`)).body.legalHolds as string[] | undefined;

describe('evidence links', () => {
  test('a sealed event links its bundle: root, digests, where the DSSE envelope is; digest lookup finds it', async () => {
    const t = freshTenant();
    const seal = sealedEvent(t, 'B-1', 'a');
    await post(t, [seal]);
    const res = await h.call(t, 'GET', `/timeline/${seal.eventId}/evidence`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      eventId: seal.eventId,
      evidence: [
        {
          bundleId: 'B-1',
          digest: `sha256:${hex('b')}`,
          manifestDigest: `sha256:${hex('d')}`,
          dsseEnvelope: { href: '/evidence/B-1/download', path: 'signature.json' },
          bundle: {
            rootHash: hex('a'),
            archiveDigest: `sha256:${hex('b')}`,
            manifestDigest: `sha256:${hex('d')}`,
            kind: 'evaluation',
            leafCount: 4,
            sealedEventId: seal.eventId,
            sealedAt: new Date(seal.occurredAt).toISOString(),
          },
        },
      ],
    });
    for (const d of [`sha256:${hex('a')}`, `sha256:${hex('b')}`, `sha256:${hex('d')}`, `sha256:${hex('5')}`]) {
      const found = await h.call(t, 'GET', `/timeline?digest=${d}`);
      assert.deepEqual(
        found.body.events.map((e: EventEnvelope) => e.eventId),
        [seal.eventId],
        d,
      );
    }
    // Another event naming the bundle (a download) shows the same bundle.
    const dl = downloaded(t, 'B-1');
    await post(t, [dl]);
    const link = (await h.call(t, 'GET', `/timeline/${dl.eventId}/evidence`)).body.evidence[0];
    assert.equal(link.bundle.rootHash, hex('a'));
    assert.equal(link.bundle.sealedEventId, seal.eventId);
    // A second seal event for the same bundle id (another eventId) does not overwrite the first.
    await post(t, [sealedEvent(t, 'B-1', 'e')]);
    assert.equal(
      (await h.call(t, 'GET', `/timeline/${dl.eventId}/evidence`)).body.evidence[0].bundle.rootHash,
      hex('a'),
    );
  });

  test('malformed payloads of known kinds are stored and derive nothing', async () => {
    const t = freshTenant();
    const noBundle = newEvent({ tenant: t, kind: 'evidence.bundle.sealed', source: 'evidence-locker' });
    const badRoot = newEvent({
      tenant: t,
      kind: 'evidence.bundle.sealed',
      source: 'evidence-locker',
      attributes: { bundleId: 'B-x', rootHash: 'not-hex', leafCount: -1 },
    });
    const badHold = newEvent({
      tenant: t,
      kind: 'evidence.hold.placed',
      source: 'evidence-locker',
      subject: 'case-x',
      payload: { bundleIds: 'B-x' },
    });
    await post(t, [noBundle, badRoot, badHold]);
    const bundles = await h.db.withTenant(t, (tx) =>
      tx.query<{ bundle_id: string; root_hash: string | null; leaf_count: number | null }>(
        'SELECT bundle_id, root_hash, leaf_count FROM timeline.evidence_bundles',
      ),
    );
    assert.deepEqual(bundles.rows, [{ bundle_id: 'B-x', root_hash: null, leaf_count: null }]);
    const holds = await h.db.withTenant(t, (tx) => tx.query('SELECT * FROM timeline.evidence_holds'));
    assert.equal(holds.rows.length, 0);
    assert.equal((await h.call(t, 'GET', '/timeline')).body.events.length, 3);
  });
});

describe('legal holds', () => {
  test('several holds: the events linked to a bundle are held until the last hold is released', async () => {
    const t = freshTenant();
    const seal = sealedEvent(t, 'B-h', 'a');
    const dl = downloaded(t, 'B-h');
    const other = sealedEvent(t, 'B-free', 'c');
    await post(t, [seal, dl, other]);
    assert.equal(await holdsOf(t, seal.eventId), undefined);

    await post(t, [holdEvent(t, true, 'case-1', ['B-h'])]);
    await post(t, [holdEvent(t, true, 'case-2', ['B-h', 'B-other'])]);
    assert.deepEqual(await holdsOf(t, seal.eventId), ['case-1', 'case-2']);
    assert.deepEqual(await holdsOf(t, dl.eventId), ['case-1', 'case-2']);
    assert.equal(await holdsOf(t, other.eventId), undefined);
    // In pages too, and on the evidence links.
    const page = (await h.call(t, 'GET', '/timeline?source=evidence-locker&kind=evidence.bundle.sealed')).body.events;
    assert.deepEqual(
      page.map((e: { eventId: string; legalHolds?: string[] }) => [e.eventId, e.legalHolds]),
      [
        [seal.eventId, ['case-1', 'case-2']],
        [other.eventId, undefined],
      ],
    );
    assert.deepEqual((await h.call(t, 'GET', `/timeline/${dl.eventId}/evidence`)).body.evidence[0].legalHolds, [
      'case-1',
      'case-2',
    ]);

    await post(t, [holdEvent(t, false, 'case-1', ['B-h'])]);
    assert.deepEqual(await holdsOf(t, seal.eventId), ['case-2']);
    await post(t, [holdEvent(t, false, 'case-2', ['B-h', 'B-other'])]);
    assert.equal(await holdsOf(t, seal.eventId), undefined);
    assert.equal((await h.call(t, 'GET', `/timeline/${dl.eventId}/evidence`)).body.evidence[0].legalHolds, undefined);
  });

  test('a release delivered before its placement still ends the hold; a later placement holds again', async () => {
    const t = freshTenant();
    const seal = sealedEvent(t, 'B-o', 'a');
    await post(t, [seal]);
    await post(t, [holdEvent(t, false, 'case-o', ['B-o'], '2026-03-01T10:00:01Z')]);
    await post(t, [holdEvent(t, true, 'case-o', ['B-o'], '2026-03-01T10:00:00Z')]);
    assert.equal(await holdsOf(t, seal.eventId), undefined);
    await post(t, [holdEvent(t, true, 'case-o', ['B-o'], '2026-03-02T00:00:00Z')]);
    assert.deepEqual(await holdsOf(t, seal.eventId), ['case-o']);
    // Placement and release in one batch, release last in time.
    const t2 = freshTenant();
    const seal2 = sealedEvent(t2, 'B-o', 'a');
    await post(t2, [
      seal2,
      holdEvent(t2, false, 'c', ['B-o'], '2026-03-01T00:00:02Z'),
      holdEvent(t2, true, 'c', ['B-o'], '2026-03-01T00:00:01Z'),
    ]);
    assert.equal(await holdsOf(t2, seal2.eventId), undefined);
  });

  test("holds and bundles are per tenant: another tenant's hold on the same bundle id marks nothing here", async () => {
    const [A, B] = [freshTenant(), freshTenant()];
    const sealA = sealedEvent(A, 'B-same', 'a');
    const sealB = sealedEvent(B, 'B-same', 'c');
    await post(A, [sealA]);
    await post(B, [sealB, holdEvent(B, true, 'case-b', ['B-same'])]);
    assert.equal(await holdsOf(A, sealA.eventId), undefined);
    assert.deepEqual(await holdsOf(B, sealB.eventId), ['case-b']);
    assert.equal(
      (await h.call(A, 'GET', `/timeline/${sealA.eventId}/evidence`)).body.evidence[0].bundle.rootHash,
      hex('a'),
    );
    assert.equal(
      (await h.call(B, 'GET', `/timeline/${sealB.eventId}/evidence`)).body.evidence[0].bundle.rootHash,
      hex('c'),
    );
    assert.equal((await h.call(B, 'GET', `/timeline?digest=sha256:${hex('a')}`)).body.events.length, 0);
  });
});
