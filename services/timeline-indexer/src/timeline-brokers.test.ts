/**
 * The timeline consumers on the real brokers (NATS JetStream, Redis Streams) into PostgreSQL 15:
 * events with republished duplicates (past the broker's dedupe window) and shuffled occurredAt,
 * two tenants, poison bytes in the middle of the stream → exactly the unique events stored, in
 * timeline order, each source's sequence gap-free, the poison in timeline.dead_letters. Each test
 * uses its own stream (and database), so parallel runs do not collide.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { Redis } from 'ioredis';
import { createTestDatabase, needService, repoRoot, services, uniqueName } from '@stella/testkit';
import {
  deleteNatsStream,
  deleteRedisStream,
  newEvent,
  openNatsBus,
  openRedisBus,
  type EventBus,
  type EventEnvelope,
} from '@stella/platform/bus';
import { occurredAtMs } from './ingest.js';
import { startTimelineHarness, type TimelineHarness } from './testing/timeline-harness.js';

const skip = await needService('postgres', 'nats', 'redis');

interface Broker {
  /** A publisher without a dedupe window (duplicates reach the stream) and a consumer bus. */
  publisher: EventBus;
  consumer: EventBus;
  /** How a child process opens the same consumer bus (`openBus(parseBusUrl(url), options)`). */
  child: { url: string; options: Record<string, unknown> };
  /** Writes raw bytes onto the stream the way a foreign client could. */
  poison(raw: string): Promise<void>;
  cleanup(): Promise<void>;
}

async function natsBroker(): Promise<Broker> {
  const stream = uniqueName('TIMELINE').toUpperCase();
  const subjectPrefix = `t.${stream.toLowerCase()}`;
  const opts = { stream, subjectPrefix, ackWaitMs: 5_000 };
  const publisher = await openNatsBus(services.nats.url, { ...opts, dedupeWindowMs: 0 });
  const consumer = await openNatsBus(services.nats.url, opts);
  const nc = await connect({ servers: services.nats.url });
  return {
    publisher,
    consumer,
    child: { url: services.nats.url, options: opts },
    poison: async (raw) => void (await nc.jetstream().publish(`${subjectPrefix}.poison`, Buffer.from(raw, 'utf8'))),
    async cleanup() {
      await nc.close();
      await publisher.close();
      await consumer.close();
      await deleteNatsStream(services.nats.url, stream);
    },
  };
}

async function redisBroker(): Promise<Broker> {
  const streamKey = uniqueName('timeline:test');
  const opts = { streamKey, ackWaitMs: 5_000, pollMs: 100 };
  const publisher = await openRedisBus(services.redis.url, { ...opts, dedupeWindowMs: 0 });
  const consumer = await openRedisBus(services.redis.url, opts);
  const redis = new Redis(services.redis.url);
  return {
    publisher,
    consumer,
    child: { url: services.redis.url, options: opts },
    poison: async (raw) => void (await redis.xadd(streamKey, '*', 'kind', 'poison', 'event', raw)),
    async cleanup() {
      redis.disconnect();
      await publisher.close();
      await consumer.close();
      await deleteRedisStream(services.redis.url, streamKey);
    },
  };
}

/** Starts an indexer process on `broker` (tracked in `children` for cleanup); resolves once it consumes. */
async function startIndexerChild(dbUrl: string, broker: Broker, children: ReturnType<typeof spawn>[]) {
  const child = spawn(
    process.execPath,
    [
      '--conditions=development',
      '--import',
      'tsx',
      fileURLToPath(new URL('./testing/timeline-consumer-child.ts', import.meta.url)),
      dbUrl,
      broker.child.url,
      JSON.stringify(broker.child.options),
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('ready')) {
    if (Date.now() > deadline || child.exitCode !== null) assert.fail(`child not ready: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  /** What this process reported storing last (`stored <n>` lines). */
  const stored = () => Number([...out.matchAll(/^stored (\d+)$/gm)].at(-1)?.[1] ?? 0);
  return { child, exited, stored };
}

describe('timeline consumers on real brokers', { skip }, () => {
  let h: TimelineHarness;
  let drop: () => Promise<void>;
  let dbUrl: string;
  before(async () => {
    const db = await createTestDatabase('timeline_brokers');
    drop = db.drop;
    dbUrl = db.url;
    h = await startTimelineHarness({ databaseUrl: db.url });
  });
  after(async () => {
    await h?.close();
    await drop?.();
  });

  for (const [name, open] of [
    ['nats', natsBroker],
    ['redis', redisBroker],
  ] as const) {
    test(`${name}: unique events stored once in timeline order; duplicates counted; poison dead-lettered`, async (t) => {
      const broker = await open();
      try {
        const tenants = [`${name}-a`, `${name}-b`];
        const base = Date.parse('2026-04-01T00:00:00Z');
        const unique: EventEnvelope[] = Array.from({ length: 2000 }, (_, i) =>
          newEvent({
            tenant: tenants[i % 2]!,
            kind: 'scan.completed',
            source: `svc-${i % 3}`,
            // Shuffled, with collisions: many events share a millisecond.
            occurredAt: new Date(base + Math.floor(Math.random() * 500) * 1000).toISOString(),
          }),
        );
        const dupes = unique.filter((_, i) => i % 10 === 0);
        const deadBefore = (
          await h.db.query<{ n: string }>('SELECT coalesce(max(id), 0)::text AS n FROM timeline.dead_letters')
        ).rows[0]!.n;
        const started = performance.now();
        const { metrics } = await h.startWorkers(1, broker.consumer);
        const sequence = [...unique, ...dupes].sort(() => Math.random() - 0.5);
        await Promise.all(sequence.slice(0, 1000).map((e) => broker.publisher.publish(e)));
        await broker.poison('{"not": "an envelope"');
        await broker.poison(JSON.stringify({ ...unique[0], eventId: 'nope' }));
        await Promise.all(sequence.slice(1000).map((e) => broker.publisher.publish(e)));

        const value = async (c: typeof metrics.stored) =>
          (await c.get()).values.reduce((n, v) => n + (v.labels.path === 'bus' ? v.value : 0), 0);
        const deadline = Date.now() + 120_000;
        // Every delivery beyond the first of an event counts as a duplicate: the republished
        // copies, and any redelivery (e.g. after an ack wait ran out on a loaded machine).
        while ((await value(metrics.stored)) < unique.length || (await value(metrics.duplicates)) < dupes.length) {
          if (Date.now() > deadline) assert.fail(`only ${await value(metrics.stored)} stored`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const seconds = (performance.now() - started) / 1000;
        t.diagnostic(`${name}: ${sequence.length} deliveries in ${seconds.toFixed(1)} s`);
        assert.equal(await value(metrics.stored), unique.length);
        assert.ok((await value(metrics.duplicates)) >= dupes.length);

        for (const tenant of tenants) {
          const got: (EventEnvelope & { ingestSeq: string })[] = [];
          let cursor: string | undefined;
          do {
            const res = await h.call(tenant, 'GET', `/timeline?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
            got.push(...res.body.events);
            cursor = res.body.nextCursor;
          } while (cursor);
          const mine = unique.filter((e) => e.tenant === tenant);
          assert.deepEqual(got.map((e) => e.eventId).sort(), mine.map((e) => e.eventId).sort());
          // The documented order: occurredAt (ms), then source, then its ingest sequence.
          const key = (e: (typeof got)[number]) => [occurredAtMs(e.occurredAt), e.source, BigInt(e.ingestSeq)] as const;
          for (let i = 1; i < got.length; i++) {
            const [a, b] = [key(got[i - 1]!), key(got[i]!)];
            assert.ok(
              a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2]))),
              `order at ${i}`,
            );
          }
          for (const source of ['svc-0', 'svc-1', 'svc-2']) {
            const seqs = got.filter((e) => e.source === source).map((e) => Number(e.ingestSeq));
            assert.deepEqual(
              seqs.sort((x, y) => x - y),
              Array.from({ length: seqs.length }, (_, i) => i + 1),
            );
          }
        }
        // Dead letters are written right after the adapter gave the message up: wait for both rows.
        const deadRows = async () =>
          (
            await h.db.query<{ raw: Buffer }>('SELECT raw FROM timeline.dead_letters WHERE id > $1 ORDER BY id', [
              deadBefore,
            ])
          ).rows;
        while ((await deadRows()).length < 2) {
          if (Date.now() > deadline) assert.fail('dead letters not recorded');
          await new Promise((r) => setTimeout(r, 50));
        }
        const dead = await deadRows();
        assert.equal(dead.length, 2);
        const raws = dead.map((r) => r.raw.toString('utf8'));
        assert.ok(raws.includes('{"not": "an envelope"'));
        assert.ok(raws.includes(JSON.stringify({ ...unique[0], eventId: 'nope' })));
      } finally {
        await broker.cleanup();
      }
    });

    test(`${name}: two indexer processes share one durable group: every event stored once, both did work`, async () => {
      const broker = await open();
      const children: ReturnType<typeof spawn>[] = [];
      try {
        const tenant = `${name}-replicas`;
        const [one, two] = [
          await startIndexerChild(dbUrl, broker, children),
          await startIndexerChild(dbUrl, broker, children),
        ];
        const unique = Array.from({ length: 4000 }, (_, i) =>
          newEvent({ tenant, kind: 'scan.completed', source: `svc-${i % 4}` }),
        );
        const dupes = unique.filter((_, i) => i % 10 === 0);
        // Published in waves, so both processes find work waiting while the other writes.
        const sequence = [...unique, ...dupes].sort(() => Math.random() - 0.5);
        for (let i = 0; i < sequence.length; i += 200)
          await Promise.all(sequence.slice(i, i + 200).map((e) => broker.publisher.publish(e)));
        const count = async () =>
          (
            await h.db.withTenant(tenant, (tx) =>
              tx.query<{ n: string; ids: string }>(
                'SELECT count(*)::text AS n, count(DISTINCT event_id)::text AS ids FROM timeline.events',
              ),
            )
          ).rows[0]!;
        const deadline = Date.now() + 120_000;
        while (Number((await count()).n) < unique.length) {
          if (Date.now() > deadline) assert.fail(`only ${(await count()).n} of ${unique.length} stored`);
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(await count(), { n: String(unique.length), ids: String(unique.length) });
        await new Promise((r) => setTimeout(r, 300)); // the last `stored` lines
        assert.ok(one.stored() > 0 && two.stored() > 0, `both stored (${one.stored()}, ${two.stored()})`);
        assert.equal(one.stored() + two.stored(), unique.length, 'no event stored by both');
        const seqs = await h.db.withTenant(tenant, (tx) =>
          tx.query<{ n: string; max: string }>(
            'SELECT count(*)::text AS n, max(ingest_seq)::text AS max FROM timeline.events GROUP BY source ORDER BY source',
          ),
        );
        // Two writers of one source serialize on its sequence row: still 1..n, no gaps.
        assert.deepEqual(seqs.rows, Array(4).fill({ n: '1000', max: '1000' }));
      } finally {
        for (const c of children) c.kill('SIGKILL');
        await broker.cleanup();
      }
    });

    test(`${name}: the indexer process SIGKILLed mid-stream and restarted: nothing lost, nothing stored twice`, async () => {
      const broker = await open();
      const children: ReturnType<typeof spawn>[] = [];
      const startChild = () => startIndexerChild(dbUrl, broker, children);
      try {
        const tenant = `${name}-kill`;
        const unique = Array.from({ length: 3000 }, (_, i) =>
          newEvent({ tenant, kind: 'scan.completed', source: `svc-${i % 3}` }),
        );
        const dupes = unique.filter((_, i) => i % 10 === 0);
        await Promise.all([...unique, ...dupes].map((e) => broker.publisher.publish(e)));
        const stored = async () =>
          Number(
            (
              await h.db.withTenant(tenant, (tx) =>
                tx.query<{ n: string }>('SELECT count(*)::text AS n FROM timeline.events'),
              )
            ).rows[0]!.n,
          );
        const first = await startChild();
        const deadline = Date.now() + 120_000;
        while ((await stored()) < 500) {
          if (Date.now() > deadline) assert.fail('the first indexer stored nothing');
          await new Promise((r) => setTimeout(r, 10));
        }
        first.child.kill('SIGKILL');
        await first.exited;
        const atKill = await stored();
        assert.ok(atKill < unique.length, `killed too late (${atKill} stored)`);
        // The restarted indexer: what the killed one had not acknowledged is redelivered after
        // the ack wait; committed events come back as duplicates and are not stored again.
        await startChild();
        while ((await stored()) < unique.length) {
          if (Date.now() > deadline) assert.fail(`only ${await stored()} of ${unique.length} stored after the restart`);
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(await stored(), unique.length);
        const seqs = await h.db.withTenant(tenant, (tx) =>
          tx.query<{ source: string; n: string; max: string; ids: string }>(
            `SELECT source, count(*)::text AS n, max(ingest_seq)::text AS max, count(DISTINCT event_id)::text AS ids
             FROM timeline.events GROUP BY source ORDER BY source`,
          ),
        );
        // Every source's sequence is still 1..n: the transaction the kill interrupted left nothing.
        assert.deepEqual(seqs.rows, [
          { source: 'svc-0', n: '1000', max: '1000', ids: '1000' },
          { source: 'svc-1', n: '1000', max: '1000', ids: '1000' },
          { source: 'svc-2', n: '1000', max: '1000', ids: '1000' },
        ]);
      } finally {
        for (const c of children) c.kill('SIGKILL');
        await broker.cleanup();
      }
    });
  }
});
