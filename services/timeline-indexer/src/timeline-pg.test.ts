/**
 * The timeline on real PostgreSQL 15: the cross-tenant isolation matrix (queries and every
 * filter, by id, evidence, digests, partitions named directly), the app role's rights on the
 * timeline tables, and concurrent overlapping ingests (dedupe and the per-source sequence under
 * real row locks).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, needService } from '@stella/testkit';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { openSse, type SseConnection } from './testing/sse-client.js';
import { storeTenantBatch } from './ingest.js';
import { ensurePartitions } from './partitions.js';
import { runMaintenance } from './maintenance.js';
import { cutBatches } from './timeline-log.js';

const skip = await needService('postgres');

describe('timeline on PostgreSQL', { skip }, () => {
  let h: TimelineHarness;
  let drop: () => Promise<void>;
  before(async () => {
    const db = await createTestDatabase('timeline');
    drop = db.drop;
    h = await startTimelineHarness({ databaseUrl: db.url });
  });
  after(async () => {
    await h?.close();
    await drop?.();
  });

  const digestA = `sha256:${'a'.repeat(64)}`;
  const manifestA = `sha256:${'b'.repeat(64)}`;
  const traceA = `${'0'.repeat(31)}a`;
  const ev = (tenant: string, init: Partial<EventEnvelope> = {}) =>
    newEvent({ tenant, kind: 'scan.completed', source: 'scanner', ...init });

  test('cross-tenant isolation matrix: list and every filter, by id, evidence, digests', async () => {
    const [A, B] = ['iso-a', 'iso-b'];
    const secret = ev(A, {
      kind: 'evidence.bundle.sealed',
      subject: 'img-secret',
      correlationId: 'corr-secret',
      traceId: traceA,
      evidence: [{ digest: digestA, bundleId: 'bundle-a', manifestDigest: manifestA }],
    });
    assert.equal((await h.call(A, 'POST', '/timeline/events', { events: [secret] })).body.stored, 1);
    const own = ev(B);
    assert.equal((await h.call(B, 'POST', '/timeline/events', { events: [own] })).body.stored, 1);

    for (const q of [
      '',
      'kind=evidence.bundle.sealed',
      'source=scanner',
      'subject=img-secret',
      'correlationId=corr-secret',
      `traceId=${traceA}`,
      `digest=${digestA}`,
      `digest=${manifestA}`,
      'from=1970-01-01T00:00:00Z',
    ]) {
      const res = await h.call(B, 'GET', `/timeline?${q}`);
      assert.equal(res.status, 200);
      assert.ok(!res.body.events.some((e: EventEnvelope) => e.tenant !== B), `B saw another tenant's event via "${q}"`);
    }
    assert.deepEqual(
      (await h.call(B, 'GET', '/timeline')).body.events.map((e: EventEnvelope) => e.eventId),
      [own.eventId],
    );
    assert.equal((await h.call(A, 'GET', `/timeline?digest=${digestA}`)).body.events.length, 1);

    // By id and evidence: A's event answers B exactly like an event that does not exist.
    const missing = ev(B).eventId;
    for (const suffix of ['', '/evidence']) {
      const foreign = await h.call(B, 'GET', `/timeline/${secret.eventId}${suffix}`);
      const none = await h.call(B, 'GET', `/timeline/${missing}${suffix}`);
      assert.equal(foreign.status, 404);
      assert.equal(none.status, 404);
      const shape = (b: { code: string; message: string; details: { eventId: string } }, id: string) => ({
        code: b.code,
        message: b.message.replace(id, '<id>'),
        details: { ...b.details, eventId: '<id>' },
      });
      assert.deepEqual(shape(foreign.body, secret.eventId), shape(none.body, missing));
      assert.equal((await h.call(A, 'GET', `/timeline/${secret.eventId}${suffix}`)).status, 200);
    }
    // The header must name the token's tenant: B cannot ask as A.
    const asA = await h.app.inject({
      method: 'GET',
      url: '/timeline',
      headers: { authorization: `Bearer ${await h.token(B)}`, 'x-stella-tenant': A },
    });
    assert.equal(asA.statusCode, 403);

    // The same eventId in another tenant is another event (dedupe is per tenant).
    const reuse = { ...secret, tenant: B, subject: 'b-copy' };
    assert.equal((await h.call(B, 'POST', '/timeline/events', { events: [reuse] })).body.stored, 1);
    assert.equal((await h.call(A, 'GET', `/timeline/${secret.eventId}`)).body.subject, 'img-secret');
    assert.equal((await h.call(B, 'GET', `/timeline/${secret.eventId}`)).body.subject, 'b-copy');
  });

  test('RLS on the tables and their partitions; the app role cannot change or remove events', async () => {
    const [A, B] = ['rls-a', 'rls-b'];
    await h.call(A, 'POST', '/timeline/events', {
      events: [
        // Details too large to inline (migration 0005): the event has an event_details row.
        ev(A, { evidence: [{ digest: digestA, bundleId: 'x' }], payload: { large: 'x'.repeat(2000) } }),
        ev(A, {
          kind: 'evidence.bundle.sealed',
          attributes: { bundleId: 'x' },
          evidence: [{ digest: digestA, bundleId: 'x' }],
        }),
        ev(A, {
          kind: 'evidence.hold.placed',
          attributes: { caseId: 'c' },
          payload: { bundleIds: ['x'], reason: 'r' },
        }),
        ev(A, {
          kind: 'evidence.incident.activated',
          subject: 'incident/1',
          attributes: { incidentId: '1', active: true },
          payload: { incidentId: '1', reason: 'INC-1', retentionExtension: 'P30D' },
        }),
      ],
    });
    const admin = ['timeline:read', 'timeline:admin'] as const;
    assert.equal((await h.call(A, 'PUT', '/timeline/retention', { keep: 'P30D' }, [...admin])).status, 200);
    const tables = [
      'event_ids',
      'source_sequences',
      'events',
      'events_default',
      'event_details',
      'event_details_default',
      'event_digests',
      'event_digests_default',
      'evidence_links',
      'evidence_links_default',
      'tenant_arrivals',
      'event_arrivals',
      'event_arrivals_default',
      'evidence_bundles',
      'evidence_holds',
      'retention_settings',
      'evidence_incidents',
      'log_batches',
    ];
    await cutBatches(h.db, A, new Date()); // the timeline log's batch rows (timeline-log.ts)
    for (const t of tables) {
      const asB = await h.db.withTenant(B, (tx) =>
        tx.query<{ n: string }>(`SELECT count(*)::text AS n FROM timeline.${t} WHERE tenant_id = $1`, [A]),
      );
      assert.equal(asB.rows[0]!.n, '0', `B reads A's rows of ${t}`);
      const asA = await h.db.withTenant(A, (tx) =>
        tx.query<{ n: string }>(`SELECT count(*)::text AS n FROM timeline.${t}`),
      );
      assert.notEqual(asA.rows[0]!.n, '0', `A reads its own rows of ${t}`);
    }
    const denied = (sql: string, tenant = A) =>
      assert.rejects(
        h.db.withTenant(tenant, (tx) => tx.query(sql)),
        (err: { code?: string }) => err.code === '42501',
        sql,
      );
    await denied("UPDATE timeline.events SET kind = 'x'");
    await denied('DELETE FROM timeline.events');
    await denied('DELETE FROM timeline.events_default');
    await denied('DELETE FROM timeline.event_ids');
    await denied('TRUNCATE timeline.events');
    await denied('SELECT * FROM timeline.dead_letters');
    await denied('SELECT * FROM timeline.dropped_ranges');
    await denied('DELETE FROM timeline.event_arrivals');
    await denied('UPDATE timeline.evidence_bundles SET root_hash = NULL');
    await denied('DELETE FROM timeline.evidence_holds');
    // Writing a row for another tenant fails the policy's WITH CHECK.
    await denied(`INSERT INTO timeline.source_sequences (tenant_id, source, last_seq) VALUES ('${A}', 'forged', 1)`, B);
    const rls = await h.db.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'timeline' AND c.relkind IN ('r', 'p') AND c.relname NOT IN ('dead_letters', 'dropped_ranges') ORDER BY 1`,
    );
    assert.deepEqual(rls.rows.map((r) => r.relname).sort(), [...tables].sort());
    for (const r of rls.rows) assert.ok(r.relrowsecurity && r.relforcerowsecurity, `${r.relname}: RLS + FORCE`);
  });

  test('concurrent overlapping batches: each event stored once, the per-source sequence gap-free', async () => {
    const T = 'conc-a';
    const events = Array.from({ length: 60 }, (_, i) => ev(T, { source: i % 2 ? 'p' : 'q' }));
    // Eight writers, each posting a shuffled overlapping half of the events.
    const posts = Array.from({ length: 8 }, (_, w) => {
      const mine = events.filter((_, i) => (i + w) % 2 === 0 || i % 3 === w % 3).sort(() => Math.random() - 0.5);
      return h.call(T, 'POST', '/timeline/events', { events: mine });
    });
    const results = await Promise.all(posts);
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(
      results.reduce((n, r) => n + r.body.stored, 0),
      events.length,
    );
    const seqs = await h.db.withTenant(T, (tx) =>
      tx.query<{ source: string; n: string; max: string }>(
        'SELECT source, count(*)::text AS n, max(ingest_seq)::text AS max FROM timeline.events GROUP BY source ORDER BY source',
      ),
    );
    assert.deepEqual(seqs.rows, [
      { source: 'p', n: '30', max: '30' },
      { source: 'q', n: '30', max: '30' },
    ]);
  });
});

describe('stream, evidence and partitions on PostgreSQL', { skip }, () => {
  let h: TimelineHarness;
  let drop: () => Promise<void>;
  let base: string;
  const open: SseConnection[] = [];
  before(async () => {
    const db = await createTestDatabase('timeline_stream');
    drop = db.drop;
    h = await startTimelineHarness({ databaseUrl: db.url, env: { STELLA_TIMELINE_STREAM_POLL_MS: '20' } });
    base = await h.listen();
  });
  after(async () => {
    open.forEach((c) => c.close());
    await h?.close();
    await drop?.();
  });
  const stream = async (tenant: string, query = '', lastEventId?: string) => {
    const c = await openSse(`${base}/timeline/stream${query ? `?${query}` : ''}`, {
      authorization: `Bearer ${await h.token(tenant)}`,
      'x-stella-tenant': tenant,
      ...(lastEventId !== undefined ? { 'last-event-id': lastEventId } : {}),
    });
    open.push(c);
    return c;
  };
  const ids = (c: SseConnection) => c.messages.map((m) => (JSON.parse(m.data) as EventEnvelope).eventId);
  const ev = (tenant: string, init: Partial<EventEnvelope> = {}) =>
    newEvent({ tenant, kind: 'scan.completed', source: 'scanner', ...init });

  test('a transaction that took arrival numbers first commits first: a later one waits for it', async () => {
    const T = 'order-a';
    const c = await stream(T, '', '0');
    const e1 = ev(T, { source: 'one' });
    const e2 = ev(T, { source: 'two' }); // another source: the source lock does not order them
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let t1HasNumbers!: () => void;
    const numbered = new Promise<void>((r) => (t1HasNumbers = r));
    const t1 = h.db.withTenant(T, async (tx) => {
      await storeTenantBatch(tx, T, [e1]);
      t1HasNumbers();
      await gate; // T1 holds its arrival number, uncommitted
    });
    await numbered;
    let t2Done = false;
    const t2 = h.db
      .withTenant(T, (tx) => storeTenantBatch(tx, T, [e2]))
      .then(() => {
        t2Done = true;
      });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(t2Done, false, 'T2 committed while T1, numbered before it, was still open');
    assert.deepEqual(ids(c), [], 'the stream showed an arrival while an earlier one was uncommitted');
    release();
    await Promise.all([t1, t2]);
    await c.until('both events', (x) => x.messages.length === 2);
    assert.deepEqual(ids(c), [e1.eventId, e2.eventId]);
    assert.deepEqual(
      c.messages.map((m) => m.id),
      ['1', '2'],
    );
    const resumed = await stream(T, '', '1');
    await resumed.until('the second event', (x) => x.messages.length === 1);
    assert.deepEqual(ids(resumed), [e2.eventId]);
  });

  test('concurrent ingest with commits in any order, a client reconnecting all along: each event once', async () => {
    const T = 'order-b';
    const events = Array.from({ length: 120 }, (_, i) => ev(T, { source: `s${i % 6}` }));
    const seen: string[] = [];
    let last = '0';
    let done = false;
    // The client: short connections, each resumed from the last id it saw.
    const client = (async () => {
      while (!done || seen.length < events.length) {
        const c = await stream(T, '', last);
        await new Promise((r) => setTimeout(r, 30 + Math.random() * 60));
        c.close();
        await c.ended;
        seen.push(...ids(c));
        last = c.lastEventId;
        if (done && seen.length >= events.length) break;
      }
    })();
    // Twelve writers, each transaction sleeping a random time before COMMIT.
    await Promise.all(
      Array.from({ length: 12 }, (_, w) =>
        h.db.withTenant(T, async (tx) => {
          await storeTenantBatch(
            tx,
            T,
            events.filter((_, i) => i % 12 === w),
          );
          await new Promise((r) => setTimeout(r, Math.random() * 80));
        }),
      ),
    );
    done = true;
    await Promise.race([client, new Promise((_, rej) => setTimeout(() => rej(new Error('client timed out')), 30_000))]);
    assert.equal(new Set(seen).size, seen.length, 'an event was delivered twice');
    assert.deepEqual([...seen].sort(), events.map((e) => e.eventId).sort());
  });

  test('stream and evidence isolation across tenants', async () => {
    const [A, B] = ['siso-a', 'siso-b'];
    const a = await stream(A, '', '0');
    const b = await stream(B, '', '0');
    const seal = ev(A, {
      kind: 'evidence.bundle.sealed',
      source: 'evidence-locker',
      attributes: { bundleId: 'B-iso', kind: 'evaluation', leafCount: 1, rootHash: '7'.repeat(64) },
      evidence: [{ bundleId: 'B-iso', digest: `sha256:${'8'.repeat(64)}`, manifestDigest: `sha256:${'9'.repeat(64)}` }],
    });
    const hold = ev(A, {
      kind: 'evidence.hold.placed',
      source: 'evidence-locker',
      subject: 'case-iso',
      attributes: { caseId: 'case-iso', bundles: 1 },
      payload: { bundleIds: ['B-iso'], reason: 'x' },
    });
    await h.call(A, 'POST', '/timeline/events', { events: [seal, hold] });
    // B's own event naming the same bundle id: not A's bundle, not A's hold.
    const bOwn = ev(B, { evidence: [{ bundleId: 'B-iso', digest: `sha256:${'8'.repeat(64)}` }] });
    await h.call(B, 'POST', '/timeline/events', { events: [bOwn] });
    await a.until("A's events", (x) => x.messages.length === 2);
    await b.until("B's event", (x) => x.messages.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ids(b), [bOwn.eventId]);
    assert.deepEqual(JSON.parse(a.messages[0]!.data).legalHolds, ['case-iso']);
    const bLinks = (await h.call(B, 'GET', `/timeline/${bOwn.eventId}/evidence`)).body.evidence;
    assert.equal(bLinks[0].bundle, undefined);
    assert.equal(bLinks[0].legalHolds, undefined);
    assert.equal((await h.call(B, 'GET', `/timeline/${seal.eventId}/evidence`)).status, 404);
    assert.equal((await h.call(B, 'GET', `/timeline?digest=sha256:${'7'.repeat(64)}`)).body.events.length, 0);
    assert.equal((await h.call(A, 'GET', `/timeline?digest=sha256:${'7'.repeat(64)}`)).body.events.length, 1);
    for (const t of ['evidence_bundles', 'evidence_holds', 'event_arrivals', 'tenant_arrivals']) {
      const asB = await h.db.withTenant(B, (tx) =>
        tx.query<{ n: string }>(`SELECT count(*)::text AS n FROM timeline.${t} WHERE tenant_id = $1`, [A]),
      );
      assert.equal(asB.rows[0]!.n, '0', t);
    }
  });

  test('partitions: concurrent maintenance creates each range once; RLS on the new partitions; purge keeps held events', async () => {
    const [A, B] = ['part-pg-a', 'part-pg-b'];
    const heldSeal = ev(A, {
      occurredAt: '2040-05-05T00:00:00Z',
      kind: 'evidence.bundle.sealed',
      source: 'evidence-locker',
      attributes: { bundleId: 'B-pg' },
      evidence: [{ bundleId: 'B-pg', digest: `sha256:${'6'.repeat(64)}` }],
    });
    const plain = ev(A, { occurredAt: '2040-05-06T00:00:00Z' });
    const other = ev(B, { occurredAt: '2040-05-07T00:00:00Z' });
    await h.call(A, 'POST', '/timeline/events', {
      events: [
        heldSeal,
        plain,
        ev(A, {
          kind: 'evidence.hold.placed',
          source: 'evidence-locker',
          occurredAt: '2040-06-01T00:00:00Z',
          attributes: { caseId: 'c-pg' },
          payload: { bundleIds: ['B-pg'], reason: 'r' },
        }),
      ],
    });
    await h.call(B, 'POST', '/timeline/events', { events: [other] });
    const s = { interval: 'month' as const, ahead: 1, everyMs: 1, retention: { defaultDays: 30, tenants: new Map() } };
    const now = new Date('2040-05-20T00:00:00Z');
    const runs = await Promise.all([
      ensurePartitions(h.db, s, now),
      ensurePartitions(h.db, s, now),
      ensurePartitions(h.db, s, now),
    ]);
    const created = runs.flat().sort();
    assert.ok(created.includes('events_p20400501'), JSON.stringify(runs));
    assert.equal(new Set(created).size, created.length, 'a range was created twice');
    const asB = await h.db.withTenant(B, (tx) =>
      tx.query<{ tenant_id: string }>('SELECT tenant_id FROM timeline.events_p20400501'),
    );
    assert.deepEqual(
      asB.rows.map((r) => r.tenant_id),
      [B],
    );
    const flags = await h.db.query<{ relname: string; r: boolean; f: boolean }>(
      `SELECT relname, relrowsecurity AS r, relforcerowsecurity AS f FROM pg_class WHERE relname LIKE '%\\_p20400501'`,
    );
    assert.equal(flags.rows.length, 5);
    for (const f of flags.rows) assert.ok(f.r && f.f, f.relname);

    const report = await runMaintenance(h.db, { ...s, ahead: 0 }, new Date('2041-01-01T00:00:00Z'));
    assert.ok(report.dropped.includes('events_p20400501'), JSON.stringify(report));
    // This one, and the earlier tests' held seal (its month's partition was backfilled from DEFAULT),
    // and the two hold events: they are linked to the bundles they hold (evidence.ts), so held too.
    assert.equal(report.movedHeld, 4);
    assert.equal((await h.call(A, 'GET', `/timeline/${heldSeal.eventId}`)).body.legalHolds[0], 'c-pg');
    assert.equal((await h.call(A, 'GET', `/timeline/${plain.eventId}`)).status, 404);
    assert.equal((await h.call(B, 'GET', `/timeline/${other.eventId}`)).status, 404);
  });
});
