/**
 * Timeline Indexer acceptance runs (issue #9 "Acceptance"): publish N messages (default 100,000,
 * of which 10 % are republished duplicates) with shuffled occurredAt through NATS JetStream,
 * then Redis Streams, into a REAL indexer process on PostgreSQL, and verify that exactly the
 * unique events are stored, in the documented order; then the same with the indexer SIGKILLed
 * halfway and restarted. A bench script, not a test: it takes minutes.
 *
 *   node --conditions=development --import tsx bench/timeline-acceptance.ts [--events 100000]
 *        [--brokers nats,redis] [--no-kill] [--json]
 *
 * Verified for every run, through the query use-case the API serves (`listTimeline`, pages of
 * 1,000): the stored ids are exactly the unique ids (none missing, none twice: `event_ids` count
 * = distinct count = unique); every page is in (occurredAt ms, source, ingest sequence) order,
 * strictly increasing; each event's occurredAt is the one published; each (tenant, source)
 * sequence is 1..n without gaps. Needs PostgreSQL, NATS (JetStream) and Redis on loopback.
 */
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '@stella/platform/db';
import { createTestDatabase } from '@stella/testkit';
import { listTimeline, timelineIndexerService } from '@stella/timeline-indexer';
import { occurredAtMs } from '../services/timeline-indexer/src/ingest.js';
import { benchArgs } from './lib/args.js';
import { machineLine, printTable } from './lib/measure.js';
import {
  openBenchBroker,
  publishAll,
  startIndexer,
  storedCount,
  waitStored,
  type BrokerName,
} from './lib/timeline-brokers.js';

const args = benchArgs();
const N = args.num('events', 100_000);
const BROKERS = args.opt('brokers', 'nats,redis').split(',') as BrokerName[];
const TENANTS = ['acme', 'globex', 'initech'];
const SOURCES = Array.from({ length: 6 }, (_, i) => `svc-${i}`);
const T0 = Date.parse('2026-11-01T00:00:00Z');

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** N messages: 90 % unique events with shuffled occurredAt (many sharing a second), 10 % copies. */
function makeStream(seed: number): { unique: EventEnvelope[]; messages: EventEnvelope[] } {
  const r = rng(seed);
  const nUnique = N - Math.floor(N / 10);
  const unique = Array.from({ length: nUnique }, (_, i) =>
    newEvent({
      tenant: TENANTS[i % TENANTS.length]!,
      kind: 'scan.completed',
      source: SOURCES[Math.floor(r() * SOURCES.length)]!,
      // Shuffled over one day at second resolution: many events share an occurredAt.
      occurredAt: new Date(T0 + Math.floor(r() * 86_400) * 1000),
      attributes: { i },
    }),
  );
  const messages = [...unique];
  for (let i = 0; i < N - nUnique; i++) messages.push(unique[Math.floor(r() * nUnique)]!);
  // Fisher–Yates: duplicates anywhere, before or after their original.
  for (let i = messages.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [messages[i], messages[j]] = [messages[j]!, messages[i]!];
  }
  return { unique, messages };
}

/** The checks listed in the header; throws on the first violation. */
async function verify(db: Db, unique: readonly EventEnvelope[]): Promise<void> {
  const counts = (
    await db.query<{ n: string; d: string }>(
      'SELECT count(*)::text AS n, count(DISTINCT (tenant_id, event_id))::text AS d FROM timeline.events',
    )
  ).rows[0]!;
  if (Number(counts.n) !== unique.length || Number(counts.d) !== unique.length)
    throw new Error(`stored ${counts.n} rows, ${counts.d} distinct; expected ${unique.length}`);
  const want = new Map(unique.map((e) => [`${e.tenant}/${e.eventId}`, occurredAtMs(e.occurredAt)]));
  let seen = 0;
  for (const tenant of TENANTS) {
    const seqs = new Map<string, bigint>();
    let prev: [number, string, bigint] | undefined;
    let cursor: string | undefined;
    do {
      const page = await db.withTenant(tenant, (tx) => listTimeline(tx, tenant, {}, 1000, cursor));
      for (const e of page.events) {
        const key: [number, string, bigint] = [occurredAtMs(e.occurredAt), e.source, BigInt(e.ingestSeq)];
        if (want.get(`${tenant}/${e.eventId}`) !== key[0]) throw new Error(`unexpected or altered event ${e.eventId}`);
        if (
          prev &&
          !(prev[0] < key[0] || (prev[0] === key[0] && (prev[1] < key[1] || (prev[1] === key[1] && prev[2] < key[2]))))
        )
          throw new Error(`order broken at ${e.eventId}`);
        prev = key;
        const last = seqs.get(e.source) ?? 0n;
        seqs.set(e.source, last > key[2] ? last : key[2]);
        seen++;
      }
      cursor = page.nextCursor;
    } while (cursor);
    // Gap-free: per source the largest sequence equals the number of its events.
    const perSource = await db.withTenant(tenant, (tx) =>
      tx.query<{ source: string; n: string }>(
        'SELECT source, count(*)::text AS n FROM timeline.events GROUP BY source',
      ),
    );
    for (const row of perSource.rows)
      if (BigInt(row.n) !== seqs.get(row.source)) throw new Error(`${tenant}/${row.source}: sequence has gaps`);
  }
  if (seen !== unique.length) throw new Error(`walked ${seen} events, expected ${unique.length}`);
}

interface RunResult extends Record<string, string | number> {
  broker: string;
  run: string;
  published: number;
  unique: number;
  stored: number;
  storedAtKill: string | number;
  wallS: number;
  eventsPerS: number;
  verified: string;
}

async function runOnce(broker: BrokerName, kill: boolean, seed: number): Promise<RunResult> {
  const { unique, messages } = makeStream(seed);
  const target = await createTestDatabase('bench_tl_accept');
  const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 2 });
  // Ack wait 5 s: after the kill, what the dead process held comes back after that long.
  const b = await openBenchBroker(broker, kill ? 5_000 : 30_000);
  let indexer: Awaited<ReturnType<typeof startIndexer>> | undefined;
  try {
    await migrate(db, [PLATFORM_MIGRATIONS, timelineIndexerService.migrations]);
    indexer = await startIndexer(target.url, b);
    const t0 = performance.now();
    const publishing = publishAll(b.publisher, messages);
    let atKill: number | string = '—';
    if (kill) {
      await waitStored(db, Math.floor(unique.length / 2), 600_000, 20);
      await indexer.kill();
      atKill = await storedCount(db);
      indexer = await startIndexer(target.url, b);
    }
    await publishing;
    const t1 = await waitStored(db, unique.length, 900_000);
    // Redeliveries (after the kill) may still be in flight: wait until the group is drained.
    for (let i = 0; i < 600; i++) {
      const lag = await b.lag();
      if (lag && lag.pending === 0 && lag.unacknowledged === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const stored = await storedCount(db);
    await verify(db, unique);
    const wallS = (t1 - t0) / 1000;
    return {
      broker,
      run: kill ? 'SIGKILL halfway + restart' : 'straight',
      published: messages.length,
      unique: unique.length,
      stored,
      storedAtKill: atKill,
      wallS: Number(wallS.toFixed(1)),
      eventsPerS: Math.round(unique.length / wallS),
      verified: 'ok',
    };
  } finally {
    await indexer?.kill();
    await b.cleanup();
    await db.close();
    await target.drop();
  }
}

args.log(machineLine());
args.log(`messages ${N} (10 % duplicates), tenants ${TENANTS.length}, sources ${SOURCES.length}`);
const results: RunResult[] = [];
let seed = 1;
for (const broker of BROKERS) {
  results.push(await runOnce(broker, false, seed++));
  args.log(`${broker} straight: ${JSON.stringify(results.at(-1))}`);
  if (!args.flag('no-kill')) {
    results.push(await runOnce(broker, true, seed++));
    args.log(`${broker} kill: ${JSON.stringify(results.at(-1))}`);
  }
}
if (args.json) process.stdout.write(`${JSON.stringify({ events: N, results })}\n`);
else printTable(results, args.log);
