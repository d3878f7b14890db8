/**
 * Timeline Indexer: ingest into PostgreSQL through the service's one pipeline (`storeTenantBatch`,
 * the code every HTTP and bus path ends in), BESIDE `psql \copy` of the same rows into tables
 * shaped like the timeline's own (same columns, same indexes) in the same run, then query latency
 * of a filtered page of 100 at that size (issue #9 acceptance "bench/timeline"; DESIGN.md §5).
 * Then the same events through each broker into a REAL indexer process (NATS JetStream → PG,
 * Redis Streams → PG): published first (not timed), then the indexer joins the group and the
 * drain is timed until every event is stored, each run into a fresh database (same table size as
 * the pipeline's run); `--repeat R` drains R times per broker and reports the median.
 *
 *   node --conditions=development --import tsx bench/timeline.ts [--events 100000] [--batch 500]
 *        [--queries 300] [--no-analyze] [--brokers nats,redis|none] [--repeat 1] [--json]
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and `psql`; a fresh database is created and
 * dropped. One tenant, 8 sources, 12 kinds, occurredAt shuffled over 30 days. Reported: events/s
 * for the pipeline (sequential batches, one transaction each) and for COPY (one transaction per
 * table), their ratio, query p50/p99 per filter, peak RSS of this process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { migrate, openDb, PLATFORM_MIGRATIONS } from '@stella/platform/db';
import { createTestDatabase } from '@stella/testkit';
import { listTimeline, storeTenantBatch, timelineIndexerService, type TimelineFilters } from '@stella/timeline-indexer';
import { benchArgs } from './lib/args.js';
import { machineLine, median, percentile, printTable, round, rssSampler, runBaseline } from './lib/measure.js';
import { openBenchBroker, publishAll, startIndexer, waitStored, type BrokerName } from './lib/timeline-brokers.js';

const args = benchArgs();
const N = args.num('events', 100_000);
const BATCH = args.num('batch', 500);
const QUERIES = args.num('queries', 300);
const BROKERS = (
  args.opt('brokers', 'nats,redis') === 'none' ? [] : args.opt('brokers', 'nats,redis').split(',')
) as BrokerName[];
const REPEAT = args.num('repeat', 1);
const TENANT = 'bench';
const KINDS = Array.from({ length: 12 }, (_, i) => `bench.kind${i}.done`);
const SOURCES = Array.from({ length: 8 }, (_, i) => `svc-${i}`);
const T0 = Date.parse('2026-11-01T00:00:00Z');
const SPAN = 30 * 24 * 3600 * 1000;

/** Deterministic pseudo-random numbers (mulberry32), so runs are comparable. */
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

function makeEvents(): EventEnvelope[] {
  const r = rng(42);
  return Array.from({ length: N }, (_, i) =>
    newEvent({
      tenant: TENANT,
      kind: KINDS[i % KINDS.length]!,
      source: SOURCES[Math.floor(r() * SOURCES.length)]!,
      occurredAt: new Date(T0 + Math.floor(r() * SPAN)),
      subject: `registry.local/app-${i % 500}@sha256:${(i % 500).toString(16).padStart(64, '0')}`,
      correlationId: `run-${Math.floor(i / 20)}`,
      attributes: { index: i, ok: i % 7 !== 0 },
      payload: { step: i % 13, note: 'bench event' },
    }),
  );
}

/** TSV field for COPY text format (backslash, tab, newline escaped; NULL as \N). */
const tsv = (v: string | null | undefined) =>
  v === null || v === undefined ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');

/** Publishes `events` onto a fresh stream, then times a real indexer process draining it into a fresh database. */
async function brokerDrain(
  name: BrokerName,
  events: readonly EventEnvelope[],
): Promise<{ ms: number; publishMs: number }> {
  const target = await createTestDatabase('bench_timeline_bus');
  const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 2 });
  const broker = await openBenchBroker(name);
  let indexer: Awaited<ReturnType<typeof startIndexer>> | undefined;
  try {
    await migrate(db, [PLATFORM_MIGRATIONS, timelineIndexerService.migrations]);
    const p0 = performance.now();
    await publishAll(broker.publisher, events);
    const publishMs = performance.now() - p0;
    indexer = await startIndexer(target.url, broker, true);
    const t0 = performance.now();
    indexer.go();
    const t1 = await waitStored(db, events.length, 1_800_000, 25);
    return { ms: t1 - t0, publishMs };
  } finally {
    await indexer?.kill();
    await broker.cleanup();
    await db.close();
    await target.drop();
  }
}

async function main(): Promise<void> {
  args.log(machineLine());
  args.log(`events ${N}, batch ${BATCH}, queries ${QUERIES}`);
  const events = makeEvents();
  const target = await createTestDatabase('bench_timeline');
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-timeline-'));
  const peak = rssSampler();
  const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 4 });
  try {
    await migrate(db, [PLATFORM_MIGRATIONS, timelineIndexerService.migrations]);

    // --- the pipeline -------------------------------------------------------------------------
    const t0 = performance.now();
    for (let i = 0; i < events.length; i += BATCH) {
      const batch = events.slice(i, i + BATCH);
      await db.withTenant(TENANT, (tx) => storeTenantBatch(tx, TENANT, batch));
    }
    const pipelineMs = performance.now() - t0;

    // --- the baseline: the same rows, COPY'd into look-alike tables ------------------------------
    await db.query(`CREATE TABLE public.b_events (LIKE timeline.events INCLUDING DEFAULTS INCLUDING INDEXES)`);
    await db.query(`CREATE TABLE public.b_details (LIKE timeline.event_details INCLUDING DEFAULTS INCLUDING INDEXES)`);
    await db.query(`CREATE TABLE public.b_ids (LIKE timeline.event_ids INCLUDING DEFAULTS INCLUDING INDEXES)`);
    const cols = async (table: string) =>
      (
        await db.query<{ c: string }>(
          `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
          [table],
        )
      ).rows.map((r) => r.c);
    const seq = new Map<string, number>();
    const rows = { b_events: [] as string[], b_details: [] as string[], b_ids: [] as string[] };
    const colsOf = { b_events: await cols('b_events'), b_details: await cols('b_details'), b_ids: await cols('b_ids') };
    for (const e of events) {
      const s = (seq.get(e.source) ?? 0) + 1;
      seq.set(e.source, s);
      const values: Record<string, string | null | undefined> = {
        tenant_id: TENANT,
        occurred_at: e.occurredAt,
        occurred_at_text: e.occurredAt,
        source: e.source,
        ingest_seq: String(s),
        event_id: e.eventId,
        kind: e.kind,
        subject: e.subject,
        correlation_id: e.correlationId,
        trace_id: e.traceId,
        actor: e.actor,
        attributes: JSON.stringify(e.attributes),
        payload: JSON.stringify(e.payload),
        evidence: null,
      };
      for (const t of ['b_events', 'b_details', 'b_ids'] as const) {
        // Columns with a default and no value here (ingested_at, …) take it from the table.
        rows[t].push(
          colsOf[t]
            .filter((c) => c in values)
            .map((c) => tsv(values[c]))
            .join('\t'),
        );
      }
    }
    const psqlArgs: string[] = [target.url, '-v', 'ON_ERROR_STOP=1', '-q'];
    for (const t of ['b_events', 'b_details', 'b_ids'] as const) {
      const file = join(dir, `${t}.tsv`);
      await writeFile(file, `${rows[t].join('\n')}\n`);
      const list = colsOf[t].filter((c) => c !== 'ingested_at' && c !== 'first_seen_at').join(', ');
      psqlArgs.push('-c', `\\copy public.${t} (${list}) FROM '${file}'`);
    }
    const copy = await runBaseline('psql', psqlArgs);

    // --- queries: a filtered page of 100 --------------------------------------------------------
    // Steady state: statistics as autovacuum would leave them (right after a bulk load the planner
    // still believes the tables are empty and picks whole scans); `--no-analyze` measures that case.
    if (!args.flag('no-analyze')) await db.query('ANALYZE');
    const r = rng(7);
    const filters: [string, () => TimelineFilters][] = [
      ['none', () => ({})],
      ['kind', () => ({ kind: KINDS[Math.floor(r() * KINDS.length)]! })],
      ['source', () => ({ source: SOURCES[Math.floor(r() * SOURCES.length)]! })],
      ['subject', () => ({ subject: events[Math.floor(r() * N)]!.subject! })],
      ['correlationId', () => ({ correlationId: events[Math.floor(r() * N)]!.correlationId! })],
      [
        'kind+window',
        () => {
          const from = T0 + Math.floor(r() * (SPAN - 86_400_000));
          return {
            kind: KINDS[Math.floor(r() * KINDS.length)]!,
            from: new Date(from).toISOString(),
            to: new Date(from + 86_400_000).toISOString(),
          };
        },
      ],
    ];
    const queryRows: Record<string, string | number>[] = [];
    for (const [name, make] of filters) {
      const ms: number[] = [];
      for (let q = 0; q < QUERIES; q++) {
        const f = make();
        const s = performance.now();
        await db.withTenant(TENANT, (tx) => listTimeline(tx, TENANT, f, 100));
        ms.push(performance.now() - s);
      }
      ms.sort((a, b) => a - b);
      queryRows.push({ filter: name, p50Ms: round(percentile(ms, 50), 2), p99Ms: round(percentile(ms, 99), 2) });
    }

    const ingestRows: Record<string, string | number>[] = [
      {
        path: 'storeTenantBatch',
        events: N,
        ms: Math.round(pipelineMs),
        perSec: Math.round(N / (pipelineMs / 1000)),
        vsCopy: round(copy.ms / pipelineMs, 2),
        runsPerSec: '',
        publishPerSec: '',
      },
      { path: 'psql \\copy (baseline)', events: N, ms: Math.round(copy.ms), perSec: Math.round(N / (copy.ms / 1000)) },
    ];
    for (const name of BROKERS) {
      const runs: { ms: number; publishMs: number }[] = [];
      for (let i = 0; i < REPEAT; i++) runs.push(await brokerDrain(name, events));
      const ms = median(runs.map((x) => x.ms));
      ingestRows.push({
        path: `${name} → indexer process → PG${REPEAT > 1 ? ` (median of ${REPEAT})` : ''}`,
        events: N,
        ms: Math.round(ms),
        perSec: Math.round(N / (ms / 1000)),
        vsCopy: round(copy.ms / ms, 2),
        runsPerSec: runs.map((x) => Math.round(N / (x.ms / 1000))).join(' '),
        publishPerSec: Math.round(N / (median(runs.map((x) => x.publishMs)) / 1000)),
      });
    }
    const ratio = round(copy.ms / pipelineMs, 2);
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ events: N, batch: BATCH, ingest: ingestRows, pipelineVsCopy: ratio, queries: queryRows, peakRssMiB: round(peak(), 1) })}\n`,
      );
    } else {
      printTable(ingestRows, args.log);
      args.log(`pipeline rate / COPY rate: ${ratio}`);
      printTable(queryRows, args.log);
      args.log(`peak RSS ${round(peak(), 1)} MiB`);
    }
  } finally {
    await db.close();
    await target.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
