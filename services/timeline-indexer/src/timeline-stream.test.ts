/**
 * `GET /timeline/stream` on PGlite over a real socket: events posted after connect arrive in
 * arrival order (late events with an older occurredAt included), resume after `Last-Event-ID`
 * without loss or repeat, filters and the position marker, heartbeats, bad input, tenant
 * isolation and a clean end when the server stops. Out-of-order commits on real PostgreSQL are
 * in timeline-pg.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { openSse, type SseConnection } from './testing/sse-client.js';

let h: TimelineHarness;
let base: string;
before(async () => {
  h = await startTimelineHarness({
    env: { STELLA_TIMELINE_STREAM_POLL_MS: '20', STELLA_TIMELINE_STREAM_HEARTBEAT_SECONDS: '1' },
  });
  base = await h.listen();
});
after(async () => {
  await h?.close();
});

let n = 0;
const freshTenant = () => `s${++n}-${Date.now().toString(36)}`;
const ev = (tenant: string, init: Partial<EventEnvelope> = {}): EventEnvelope =>
  newEvent({ tenant, kind: 'scan.completed', source: 'scanner', ...init });

const open: SseConnection[] = [];
async function stream(tenant: string, query = '', headers: Record<string, string> = {}, scopes?: string[]) {
  const c = await openSse(`${base}/timeline/stream${query ? `?${query}` : ''}`, {
    authorization: `Bearer ${await h.token(tenant, scopes as never)}`,
    'x-stella-tenant': tenant,
    ...headers,
  });
  open.push(c);
  return c;
}
after(() => open.forEach((c) => c.close()));

const post = async (tenant: string, events: EventEnvelope[]) => {
  const res = await h.call(tenant, 'POST', '/timeline/events', { events });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};
const ids = (c: SseConnection) => c.messages.map((m) => (JSON.parse(m.data) as EventEnvelope).eventId);

describe('GET /timeline/stream', () => {
  test('delivers events posted after connect, in arrival order, late occurredAt included', async () => {
    const t = freshTenant();
    const before = ev(t);
    await post(t, [before]);
    const c = await stream(t);
    assert.equal(c.status, 200);
    assert.match(c.contentType ?? '', /^text\/event-stream/);
    await c.until('the start position', (x) => x.lastEventId === '1');
    const now = ev(t, { occurredAt: '2026-06-01T00:00:00Z' });
    const late = ev(t, { occurredAt: '2020-01-01T00:00:00Z', source: 'other' });
    await post(t, [now]);
    await post(t, [late, now]); // `now` again: a duplicate is not an arrival
    await c.until('two events', (x) => x.messages.length >= 2);
    assert.deepEqual(ids(c), [now.eventId, late.eventId]);
    assert.deepEqual(
      c.messages.map((m) => [m.id, m.event]),
      [
        ['2', 'timeline.event'],
        ['3', 'timeline.event'],
      ],
    );
    const got = JSON.parse(c.messages[1]!.data);
    assert.equal(got.tenant, t);
    assert.equal(got.occurredAt, late.occurredAt);
    assert.equal(got.ingestSeq, '1');
    // Not the event from before the connection.
    assert.ok(!ids(c).includes(before.eventId));
    const audit = await h.db.query<{ details: { filters: object } }>(
      "SELECT details FROM stella_platform.audit_log WHERE tenant_id = $1 AND action = 'timeline.stream'",
      [t],
    );
    assert.equal(audit.rows.length, 1);
  });

  test('resumes after Last-Event-ID without loss or repeat, across more than one window', async () => {
    const t = freshTenant();
    const c1 = await stream(t);
    await c1.until('the start position', (x) => x.lastEventId === '0');
    const first = Array.from({ length: 5 }, () => ev(t));
    await post(t, first);
    await c1.until('five events', (x) => x.messages.length === 5);
    c1.close();
    const resumeAt = c1.lastEventId;
    assert.equal(resumeAt, '5');
    // While disconnected: more than one stream window (200) of events, in several batches.
    const missed: EventEnvelope[] = [];
    for (let b = 0; b < 3; b++) {
      const batch = Array.from({ length: 90 }, () => ev(t, { source: `src-${b}` }));
      missed.push(...batch);
      await post(t, batch);
    }
    const c2 = await stream(t, '', { 'last-event-id': resumeAt });
    await c2.until('every missed event', (x) => x.messages.length >= missed.length);
    assert.deepEqual(
      ids(c2),
      missed.map((e) => e.eventId),
    );
    assert.deepEqual(
      c2.messages.map((m) => Number(m.id)),
      missed.map((_, i) => 6 + i),
    );
    // Resuming from 0 replays the whole timeline in arrival order.
    const c3 = await stream(t, '', { 'last-event-id': '0' });
    await c3.until('everything', (x) => x.messages.length >= 275);
    assert.deepEqual(
      ids(c3),
      [...first, ...missed].map((e) => e.eventId),
    );
  });

  test('filters: only matching events; the id alone moves past the skipped ones', async () => {
    const t = freshTenant();
    const c = await stream(t, 'kind=build.finished&source=ci');
    await c.until('the start position', (x) => x.lastEventId === '0');
    const hit = ev(t, { kind: 'build.finished', source: 'ci' });
    await post(t, [ev(t, { kind: 'build.finished' }), ev(t, { source: 'ci' }), hit, ev(t)]);
    await c.until('the position after all four', (x) => x.lastEventId === '4');
    assert.deepEqual(ids(c), [hit.eventId]);
    assert.equal(c.messages[0]!.id, '3');
    // A digest filter goes through event_digests.
    const d = `sha256:${'c'.repeat(64)}`;
    const cd = await stream(t, `digest=${d}`);
    await cd.until('the start position', (x) => x.lastEventId === '4');
    const mention = ev(t, { subject: d });
    await post(t, [ev(t), mention]);
    await cd.until('the digest event', (x) => x.messages.length === 1);
    assert.deepEqual(ids(cd), [mention.eventId]);
  });

  test('heartbeat comments while idle', async () => {
    const t = freshTenant();
    const c = await stream(t);
    await c.until('a heartbeat', (x) => x.comments.includes('keep-alive'), 5000);
  });

  test('bad input: Last-Event-ID not a number or not issued (400), no read scope (403)', async () => {
    const t = freshTenant();
    await post(t, [ev(t)]);
    for (const bad of ['abc', '-1', '01', '99999999999999999999']) {
      const c = await stream(t, '', { 'last-event-id': bad });
      assert.equal(c.status, 400, bad);
    }
    const ahead = await stream(t, '', { 'last-event-id': '2' });
    assert.equal(ahead.status, 400);
    const res = await fetch(`${base}/timeline/stream`, {
      headers: {
        authorization: `Bearer ${await h.token(t)}`,
        'x-stella-tenant': t,
        'last-event-id': '7',
      },
    });
    const body = (await res.json()) as { code: string; details: { field: string } };
    assert.equal(body.code, 'VALIDATION_FAILED');
    assert.equal(body.details.field, 'last-event-id');
    assert.equal((await stream(t, '', {}, ['timeline:write'])).status, 403);
    assert.equal((await stream(t, 'traceId=nothex')).status, 400);
    assert.equal((await stream(t, 'limit=5')).status, 400);
  });

  test("tenant isolation: a stream never carries another tenant's events, resume ids are per tenant", async () => {
    const [A, B] = [freshTenant(), freshTenant()];
    const a = await stream(A, '', { 'last-event-id': '0' });
    const b = await stream(B, '', { 'last-event-id': '0' });
    const mine = ev(B);
    await post(A, [ev(A), ev(A), ev(A)]);
    await post(B, [mine]);
    await a.until("A's events", (x) => x.messages.length === 3);
    await b.until("B's event", (x) => x.messages.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ids(b), [mine.eventId]);
    assert.equal(b.messages[0]!.id, '1'); // B's own numbering
    assert.ok(a.messages.every((m) => JSON.parse(m.data).tenant === A));
    // A's resume id 3 is not one of B's.
    assert.equal((await stream(B, '', { 'last-event-id': '3' })).status, 400);
  });

  // Last: it stops this file's server.
  test('open streams end cleanly when the server closes', async () => {
    const t = freshTenant();
    const c = await stream(t);
    await c.until('the start position', (x) => x.lastEventId === '0');
    const started = Date.now();
    await h.app.close();
    await c.ended;
    assert.ok(Date.now() - started < 5000, 'close waited for the stream');
  });
});
