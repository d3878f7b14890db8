/**
 * `GET /timeline/stream` with many subscribers on PostgreSQL 15: the streams of a tenant share
 * one reader (stream.ts), so 50 open streams cost one poll per tick and one read per batch of new
 * arrivals — counted by `stella_timeline_stream_reads_total` — while every stream still gets
 * exactly its matching events, in arrival order, with its own filters; a stream resuming with
 * an older Last-Event-ID catches up alone and then joins; a client that stops reading leaves the
 * shared feed (bounded memory) and, once it reads again, still gets every event exactly once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createTestDatabase, needService } from '@stella/testkit';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';
import { openSse, type SseConnection } from './testing/sse-client.js';
import { streamSource } from './routes.js';
import { runStream, StreamHub, StreamRegistry } from './stream.js';

const skip = await needService('postgres');
const POLL_MS = 25;

let h: TimelineHarness;
let base: string;
let drop: (() => Promise<void>) | undefined;
before(async () => {
  if (skip) return;
  const db = await createTestDatabase('timeline_stream_shared');
  drop = db.drop;
  h = await startTimelineHarness({
    databaseUrl: db.url,
    env: { STELLA_TIMELINE_STREAM_POLL_MS: String(POLL_MS), STELLA_TIMELINE_STREAM_HEARTBEAT_SECONDS: '30' },
  });
  base = await h.listen();
});
const open: SseConnection[] = [];
after(async () => {
  open.forEach((c) => c.close());
  await h?.close();
  await drop?.();
});

async function stream(tenant: string, query = '', headers: Record<string, string> = {}) {
  const c = await openSse(`${base}/timeline/stream${query ? `?${query}` : ''}`, {
    authorization: `Bearer ${await h.token(tenant)}`,
    'x-stella-tenant': tenant,
    ...headers,
  });
  assert.equal(c.status, 200);
  open.push(c);
  return c;
}
const post = async (tenant: string, events: EventEnvelope[]) => {
  const res = await h.call(tenant, 'POST', '/timeline/events', { events });
  assert.equal(res.status, 200, JSON.stringify(res.body));
};
const ids = (c: SseConnection) => c.messages.map((m) => (JSON.parse(m.data) as EventEnvelope).eventId);
async function reads(): Promise<Record<string, number>> {
  const m = await h.metrics.streamReads.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.kind), v.value]));
}
const delta = (a: Record<string, number>, b: Record<string, number>, k: string) => (b[k] ?? 0) - (a[k] ?? 0);

describe('GET /timeline/stream: one shared reader per tenant (PostgreSQL)', { skip, timeout: 180_000 }, () => {
  test('50 subscribers with three kinds of filters: each gets exactly its events in order; reads are shared', async () => {
    const [T, U] = ['shared-t', 'shared-u'];
    await post(T, [newEvent({ tenant: T, kind: 'warm.up', source: 'x' })]);
    const digest = `sha256:${'d'.repeat(64)}`;
    const all = await Promise.all(Array.from({ length: 25 }, () => stream(T)));
    const builds = await Promise.all(Array.from({ length: 20 }, () => stream(T, 'kind=build.finished&source=ci')));
    const digests = await Promise.all(Array.from({ length: 5 }, () => stream(T, `digest=${digest}`)));
    const other = await stream(U); // another tenant: its own feed, none of T's events
    const subscribers = [...all, ...builds, ...digests];
    assert.equal(subscribers.length, 50);
    for (const c of [...subscribers, other]) await c.until('the start position', (x) => x.lastEventId !== '');
    assert.equal((await h.metrics.streamConnections.get()).values[0]!.value, 51);

    const before = await reads();
    const started = Date.now();
    // 400 events in 20 batches: a quarter are build.finished from ci, every 10th mentions the digest.
    const posted: EventEnvelope[] = [];
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 20 }, (_, i) => {
        const n = b * 20 + i;
        return newEvent({
          tenant: T,
          kind: n % 4 === 0 ? 'build.finished' : 'scan.completed',
          source: n % 8 === 0 ? 'scanner' : 'ci',
          ...(n % 10 === 0 ? { subject: digest } : {}),
        });
      });
      posted.push(...batch);
      await post(T, batch);
    }
    const want = {
      all: posted.map((e) => e.eventId),
      builds: posted.filter((e) => e.kind === 'build.finished' && e.source === 'ci').map((e) => e.eventId),
      digests: posted.filter((e) => e.subject === digest).map((e) => e.eventId),
    };
    const last = String(1 + posted.length);
    for (const c of subscribers) await c.until('the last position', (x) => x.lastEventId === last, 60_000);
    const elapsed = Date.now() - started;
    const after = await reads();

    for (const c of all) assert.deepEqual(ids(c), want.all);
    for (const c of builds) assert.deepEqual(ids(c), want.builds);
    for (const c of digests) assert.deepEqual(ids(c), want.digests);
    for (const c of subscribers) {
      const arrivals = c.messages.map((m) => Number(m.id));
      assert.ok(
        arrivals.every((a, i) => i === 0 || a > arrivals[i - 1]!),
        'arrival order',
      );
    }
    assert.deepEqual(ids(other), []);

    // Shared: nobody read alone; at most one poll per tick for each of the two tenants, one read
    // (of up to a window) per tick with new arrivals. 50 connections polling on their own would
    // have cost 50 polls per tick.
    const ticks = Math.ceil(elapsed / POLL_MS) + 2;
    assert.equal(delta(before, after, 'catch_up'), 0);
    const polls = delta(before, after, 'poll');
    const shared = delta(before, after, 'shared');
    assert.ok(polls <= 2 * ticks, `${polls} polls in ${elapsed} ms (${ticks} ticks)`);
    assert.ok(shared <= Math.min(ticks, posted.length), `${shared} shared reads`);
    assert.ok(shared >= 2, `${shared} shared reads`); // 400 events > one window of 200
    assert.ok(polls < 50 * (elapsed / POLL_MS) * 0.1, `${polls} polls: far below one per stream and tick`);
    console.log(`# 50 streams, 400 events, ${elapsed} ms: ${polls} polls, ${shared} shared reads, 0 alone`);

    // A late subscriber resuming from the start catches up alone, then joins the feed.
    const beforeResume = await reads();
    const late = await stream(T, 'kind=build.finished&source=ci', { 'last-event-id': '0' });
    await late.until('caught up', (x) => x.lastEventId === last);
    assert.deepEqual(ids(late), want.builds);
    const more = newEvent({ tenant: T, kind: 'build.finished', source: 'ci' });
    await post(T, [more]);
    const next = String(2 + posted.length);
    for (const c of [late, ...builds]) await c.until('the new event', (x) => x.lastEventId === next);
    for (const c of [late, ...builds]) assert.deepEqual(ids(c), [...want.builds, more.eventId]);
    assert.ok(delta(beforeResume, await reads(), 'catch_up') >= 1);

    for (const c of [...subscribers, other, late]) c.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await h.metrics.streamConnections.get()).values[0]!.value, 0);
  });

  test('a client that stops reading leaves the feed and later gets every event exactly once', async () => {
    const T = 'shared-slow';
    await post(T, [newEvent({ tenant: T, kind: 'warm.up', source: 'x' })]);
    const hub = new StreamHub((t) => streamSource(h.db, t, h.metrics), {
      pollMs: POLL_MS,
      heartbeatMs: 60_000,
      window: 10,
    });
    const registry = new StreamRegistry();
    const gone = new AbortController();
    // A socket that takes one small chunk and then applies backpressure until read.
    const slow = new PassThrough({ highWaterMark: 16 });
    let slowText = '';
    slow.on('data', (c: Buffer) => (slowText += c.toString('utf8')));
    const fast = new PassThrough();
    let fastText = '';
    fast.on('data', (c: Buffer) => (fastText += c.toString('utf8')));
    const deadline = Date.now() + 600_000;
    const runs = [
      runStream(slow, hub, T, {}, 1n, registry, deadline, gone.signal),
      runStream(fast, hub, T, {}, 1n, registry, deadline, gone.signal),
    ];
    const feed = hub.feed(T);
    const joined = Date.now() + 10_000;
    while (feed.size < 2 && Date.now() < joined) await new Promise((r) => setTimeout(r, 10));
    assert.equal(feed.size, 2, 'both streams follow the feed');
    slow.pause(); // the client stops reading
    const events = Array.from({ length: 120 }, (_, i) => newEvent({ tenant: T, kind: 'k', source: `s${i % 3}` }));
    for (let b = 0; b < 6; b++) await post(T, events.slice(b * 20, b * 20 + 20));
    const dataIds = (text: string) =>
      [...text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as EventEnvelope).eventId);
    const deadlineWait = Date.now() + 30_000;
    while (dataIds(fastText).length < 120 && Date.now() < deadlineWait) await new Promise((r) => setTimeout(r, 20));
    // The fast stream got everything although the slow one took nothing meanwhile.
    assert.deepEqual(
      dataIds(fastText),
      events.map((e) => e.eventId),
    );
    assert.equal(hub.feed(T).size, 1, 'only the fast stream follows the feed; the slow one left it');
    assert.ok(dataIds(slowText).length < 120);
    // Now the slow client reads: it catches up alone and gets each event once, in order.
    const aloneBefore = (await reads())['catch_up'] ?? 0;
    slow.resume();
    const w2 = Date.now() + 30_000;
    while (dataIds(slowText).length < 120 && Date.now() < w2) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      dataIds(slowText),
      events.map((e) => e.eventId),
    );
    assert.ok(((await reads())['catch_up'] ?? 0) > aloneBefore, 'the slow stream caught up alone');
    registry.closeAll();
    hub.close();
    await Promise.all(runs);
  });
});
