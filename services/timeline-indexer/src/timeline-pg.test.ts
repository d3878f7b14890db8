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
      events: [ev(A, { evidence: [{ digest: digestA, bundleId: 'x' }] })],
    });
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
    ];
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
    // Writing a row for another tenant fails the policy's WITH CHECK.
    await denied(`INSERT INTO timeline.source_sequences (tenant_id, source, last_seq) VALUES ('${A}', 'forged', 1)`, B);
    const rls = await h.db.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'timeline' AND c.relkind IN ('r', 'p') AND c.relname <> 'dead_letters' ORDER BY 1`,
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
