/**
 * Timeline Indexer ingest and query benchmark (issue #9 acceptance "bench/timeline"; DESIGN.md §5).
 *
 * 1. Ingest, `--repeat R` rounds (default 3), each path into a fresh database, the order of the
 *    paths alternating from round to round (paired A/B against the baseline):
 *    - `psql \copy` of the same rows into tables shaped like the timeline's own (same columns,
 *      same indexes: events with its inline details, event_ids — what ingest writes for an event
 *      with small details since migration 0005) — the baseline;
 *    - the service's one pipeline (`storeTenantBatch`, sequential batches of `--batch`, one
 *      transaction each);
 *    - each broker (`--brokers nats,redis`) into a REAL indexer process: published first (not
 *      timed), then the indexer joins the group and the drain is timed until every event is stored.
 *    Reported per path: median, min and max events/s over the rounds, and the median of the
 *    per-round ratios to that round's COPY rate; the load average before and after each run;
 *    CPU µs per event of each party from /proc/<pid>/stat (client — psql, the bench process or
 *    the indexer process —, its PostgreSQL backends, the broker server) and the rate those costs
 *    allow on this machine's cores (`projected2Core`: min(cores / total, 1 / PostgreSQL), as
 *    one tenant's PostgreSQL work runs on one core at a time) — the numbers to read when the
 *    machine is shared and wall-clock rates are not.
 * 2. The broker side alone (`--no-broker-side` skips it): the same events drained with no database
 *    — through our adapter exactly as the indexer opens it, and through the broker's raw client
 *    (NATS `consume({max_messages})`, Redis `XREADGROUP COUNT` + one XACK per read), at batch 500
 *    and 2,000 — so the report can say which side bounds the end-to-end rate.
 * 3. Queries at `--query-events` (default 1,000,000) in one tenant, generated server-side in one
 *    statement per table (weekly partitions over 30 days, 12 kinds, 8 sources, 200 events per
 *    subject, 20 per correlationId, 10 per traceId on half the events, 100 per digest): each
 *    filter `--queries` times (default 1,000) for the first page of 100 and for the page after its
 *    cursor; p50/p99; `--explain` prints EXPLAIN (ANALYZE, BUFFERS) of each.
 *
 *   node --conditions=development --import tsx bench/timeline.ts [--events 100000] [--batch 500]
 *        [--repeat 3] [--brokers nats,redis|none] [--consumers 2] [--bus-batch 500] [--no-broker-side]
 *        [--side-variants port:2x500,port:2x2000,raw:500,raw:2000] [--query-events 1000000]
 *        [--queries 1000] [--explain] [--only ingest|brokers|queries] [--cpu-prof DIR] [--json]
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and `psql`; NATS and Redis for the brokers.
 * Every database and stream is created for the run and dropped.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '@stella/platform/db';
import { createTestDatabase } from '@stella/testkit';
import {
  inlineDetails,
  listTimeline,
  storeTenantBatch,
  timelineIndexerService,
  timelinePageQuery,
  type TimelineFilters,
} from '@stella/timeline-indexer';
import { ensurePartitions } from '../services/timeline-indexer/src/partitions.js';
import { benchArgs } from './lib/args.js';
import { machineLine, median, percentile, printTable, round, rssSampler, runBaseline } from './lib/measure.js';
import {
  drainWithoutDb,
  openBenchBroker,
  publishAll,
  startIndexer,
  waitStored,
  type BrokerName,
} from './lib/timeline-brokers.js';

const args = benchArgs();
const N = args.num('events', 100_000);
const BATCH = args.num('batch', 500);
const QUERIES = args.num('queries', 1000);
const QUERY_EVENTS = args.num('query-events', 1_000_000);
const BROKERS = (
  args.opt('brokers', 'nats,redis') === 'none' ? [] : args.opt('brokers', 'nats,redis').split(',')
) as BrokerName[];
const REPEAT = args.num('repeat', 3);
/** The indexer process's consumer: batch subscriptions × messages per fetch (the service's defaults). */
const CONSUMERS = args.num('consumers', 2);
const BUS_BATCH = args.num('bus-batch', 500);
/** The no-database drains of part 2: `port:<subscriptions>x<batch>` (our adapter) or `raw:<batch>`. */
const SIDE_VARIANTS = args.opt('side-variants', 'port:2x500,port:2x2000,raw:500,raw:2000').split(',');
const ONLY = args.opt('only', '');
/** A directory: profile each indexer process (`node --cpu-prof`) into it. */
const CPU_PROF = args.opt('cpu-prof', '');
const TENANT = 'bench';
const KINDS = Array.from({ length: 12 }, (_, i) => `bench.kind${i}.done`);
const SOURCES = Array.from({ length: 8 }, (_, i) => `svc-${i}`);
const T0 = Date.parse('2026-11-01T00:00:00Z');
const SPAN = 30 * 24 * 3600 * 1000;
const load = () => loadavg()[0]!.toFixed(1);

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

/** CPU seconds a process has used (utime + stime of /proc/<pid>/stat); 0 when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
const pidsOf = (name: string) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name;
      } catch {
        return false;
      }
    })
    .map(Number);

/** CPU µs per event of each party of a broker drain (who bounds it). */
export interface DrainCpu {
  indexer: number;
  postgres: number;
  broker: number;
}

/** Publishes `events` onto a fresh stream, then times a real indexer process draining it into a fresh database. */
async function brokerDrain(
  name: BrokerName,
  events: readonly EventEnvelope[],
): Promise<{ ms: number; publishMs: number; cpu: DrainCpu }> {
  const target = await createTestDatabase('bench_timeline_bus');
  const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 2 });
  const broker = await openBenchBroker(name);
  let indexer: Awaited<ReturnType<typeof startIndexer>> | undefined;
  try {
    await migrate(db, [PLATFORM_MIGRATIONS, timelineIndexerService.migrations]);
    const p0 = performance.now();
    await publishAll(broker.publisher, events);
    const publishMs = performance.now() - p0;
    indexer = await startIndexer(
      target.url,
      broker,
      true,
      { subscriptions: CONSUMERS, batchSize: BUS_BATCH },
      CPU_PROF || undefined,
    );
    const brokerPids = pidsOf(name === 'nats' ? 'nats-server' : 'redis-server');
    const brokerCpu0 = brokerPids.reduce((a, p) => a + cpuSeconds(p), 0);
    const childCpu0 = cpuSeconds(indexer.proc.pid!);
    const t0 = performance.now();
    indexer.go();
    const t1 = await waitStored(db, events.length, 1_800_000, 25);
    // The indexer's backends (its pool; they live until it is killed): all of this database's
    // but the one polling here. Their CPU before `go` is connection setup, not counted apart.
    const mine = (await db.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    const backends = await db.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1',
      [mine],
    );
    const pgCpu = backends.rows.reduce((a, r) => a + cpuSeconds(Number(r.pid)), 0);
    const us = (sec: number) => round((sec * 1e6) / events.length, 1);
    const cpu = {
      indexer: us(cpuSeconds(indexer.proc.pid!) - childCpu0),
      postgres: us(pgCpu),
      broker: us(brokerPids.reduce((a, p) => a + cpuSeconds(p), 0) - brokerCpu0),
    };
    return { ms: t1 - t0, publishMs, cpu };
  } finally {
    await indexer?.kill();
    await broker.cleanup();
    await db.close();
    await target.drop();
  }
}

/** A fresh database with the timeline's migrations; dropped by the returned `drop`. */
async function freshDb(label: string): Promise<{ db: Db; url: string; drop(): Promise<void> }> {
  const target = await createTestDatabase(label);
  const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 4 });
  await migrate(db, [PLATFORM_MIGRATIONS, timelineIndexerService.migrations]);
  return {
    db,
    url: target.url,
    async drop() {
      await db.close();
      await target.drop();
    },
  };
}

/** CPU seconds of the database's backends (all but `except`), by pid. */
async function backendCpu(db: Db, except?: number): Promise<Map<number, number>> {
  const r = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1',
    [except ?? 0],
  );
  return new Map(r.rows.map((x) => [Number(x.pid), cpuSeconds(Number(x.pid))]));
}

/**
 * The pipeline: sequential batches through `storeTenantBatch`, one transaction each. CPU: this
 * process (the Node side of ingest, as in the indexer) and the backends that did the writes.
 */
async function pipelineRun(events: readonly EventEnvelope[]): Promise<{ ms: number; cpu: DrainCpu }> {
  const t = await freshDb('bench_timeline_pipe');
  try {
    const before = await backendCpu(t.db);
    const n0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < events.length; i += BATCH) {
      const batch = events.slice(i, i + BATCH);
      await t.db.withTenant(TENANT, (tx) => storeTenantBatch(tx, TENANT, batch));
    }
    const ms = performance.now() - t0;
    const node = process.cpuUsage(n0);
    // A backend not there before the run started during it: all of its CPU counts.
    const after = await backendCpu(t.db);
    let pg = 0;
    for (const [pid, sec] of after) pg += sec - (before.get(pid) ?? 0);
    const us = (sec: number) => round((sec * 1e6) / events.length, 1);
    return { ms, cpu: { indexer: us((node.user + node.system) / 1e6), postgres: us(pg), broker: 0 } };
  } finally {
    await t.drop();
  }
}

/**
 * The baseline: the same rows with `psql \copy` into look-alike tables (same columns and
 * indexes). CPU: psql (in the "indexer" column: the client side) and its backend.
 */
async function copyRun(events: readonly EventEnvelope[], dir: string): Promise<{ ms: number; cpu: DrainCpu }> {
  const t = await freshDb('bench_timeline_copy');
  try {
    const tables = { b_events: 'events', b_ids: 'event_ids' } as const;
    const colsOf: Record<string, string[]> = {};
    for (const [b, src] of Object.entries(tables)) {
      await t.db.query(`CREATE TABLE public.${b} (LIKE timeline.${src} INCLUDING DEFAULTS INCLUDING INDEXES)`);
      colsOf[b] = (
        await t.db.query<{ c: string }>(
          `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
          [b],
        )
      ).rows.map((r) => r.c);
    }
    const seq = new Map<string, number>();
    const rows: Record<string, string[]> = { b_events: [], b_ids: [] };
    for (const e of events) {
      const sq = (seq.get(e.source) ?? 0) + 1;
      seq.set(e.source, sq);
      const values: Record<string, string | null | undefined> = {
        tenant_id: TENANT,
        occurred_at: e.occurredAt,
        occurred_at_text: e.occurredAt,
        source: e.source,
        ingest_seq: String(sq),
        event_id: e.eventId,
        kind: e.kind,
        subject: e.subject,
        correlation_id: e.correlationId,
        trace_id: e.traceId,
        actor: e.actor,
        details: inlineDetails(e, e.occurredAt),
      };
      for (const b of Object.keys(tables)) {
        // Columns with a default and no value here (ingested_at, …) take it from the table.
        rows[b]!.push(
          colsOf[b]!.filter((c) => COPY_COLUMNS.has(c))
            .map((c) => tsv(values[c]))
            .join('\t'),
        );
      }
    }
    // The backend reads its own CPU (utime + stime of /proc/self/stat, clock ticks) before and
    // after the copies; psql's own CPU comes from GNU time.
    const selfTicks = `SELECT (split_part(s, ' ', 12)::bigint + split_part(s, ' ', 13)::bigint) AS ticks
      FROM (SELECT split_part(pg_read_file('/proc/self/stat'), ') ', 2) AS s) x`;
    const psqlArgs: string[] = [t.url, '-v', 'ON_ERROR_STOP=1', '-q', '-At', '-c', selfTicks];
    for (const b of Object.keys(tables)) {
      const file = join(dir, `${b}.tsv`);
      await writeFile(file, `${rows[b]!.join('\n')}\n`);
      const list = colsOf[b]!.filter((c) => COPY_COLUMNS.has(c)).join(', ');
      psqlArgs.push('-c', `\\copy public.${b} (${list}) FROM '${file}'`);
    }
    psqlArgs.push('-c', selfTicks);
    const run = await runBaseline('psql', psqlArgs);
    const ticks = run.stdout.toString().trim().split('\n').map(Number);
    const us = (sec: number) => round((sec * 1e6) / events.length, 1);
    return {
      ms: run.ms,
      cpu: { indexer: us(run.cpuMs / 1000), postgres: us((ticks[ticks.length - 1]! - ticks[0]!) / 100), broker: 0 },
    };
  } finally {
    await t.drop();
  }
}

const COPY_COLUMNS = new Set(
  'tenant_id occurred_at source ingest_seq event_id kind subject correlation_id trace_id actor details'.split(' '),
);

type Sample = { ms: number; loadBefore: string; loadAfter: string; cpu?: DrainCpu };
async function sample(fn: () => Promise<number | { ms: number; cpu: DrainCpu }>): Promise<Sample> {
  const loadBefore = load();
  const x = await fn();
  return typeof x === 'number' ? { ms: x, loadBefore, loadAfter: load() } : { ...x, loadBefore, loadAfter: load() };
}

const CORES = cpus().length;
/** Events/s the median CPU costs allow on CORES cores: min(cores / total µs, 1 / PostgreSQL µs). */
function capacity(cpu: readonly DrainCpu[]): number {
  const m = (f: (c: DrainCpu) => number) => median(cpu.map(f));
  const total = m((c) => c.indexer) + m((c) => c.postgres) + m((c) => c.broker);
  return Math.min((CORES * 1e6) / total, 1e6 / m((c) => c.postgres));
}

/** Part 1: every ingest path beside COPY, `REPEAT` rounds, order alternating per round. */
async function ingestRounds(events: readonly EventEnvelope[], dir: string) {
  const paths: [string, () => Promise<number | { ms: number; cpu: DrainCpu }>][] = [
    ['psql \\copy (baseline)', () => copyRun(events, dir)],
    ['storeTenantBatch', () => pipelineRun(events)],
    ...BROKERS.map((b): [string, () => Promise<{ ms: number; cpu: DrainCpu }>] => [
      `${b} → indexer process (${CONSUMERS}×${BUS_BATCH}) → PG`,
      () => brokerDrain(b, events),
    ]),
  ];
  const got = new Map<string, Sample[]>(paths.map(([n]) => [n, []]));
  for (let r = 0; r < REPEAT; r++) {
    const order = r % 2 === 0 ? paths : [...paths].reverse();
    for (const [name, fn] of order) {
      const x = await sample(fn);
      got.get(name)!.push(x);
      const cpu = x.cpu
        ? `; CPU µs/event ${name === paths[0]![0] ? 'psql' : 'indexer'} ${x.cpu.indexer}, postgres ${x.cpu.postgres}, broker ${x.cpu.broker}`
        : '';
      args.log(
        `  round ${r + 1} ${name}: ${Math.round(N / (x.ms / 1000))} ev/s (load ${x.loadBefore} → ${x.loadAfter})${cpu}`,
      );
    }
  }
  const copy = got.get(paths[0]![0])!;
  return paths.map(([name]) => {
    const xs = got.get(name)!;
    const rates = xs.map((x) => N / (x.ms / 1000));
    const ratios = xs.map((x, i) => copy[i]!.ms / x.ms);
    return {
      path: name,
      events: N,
      medianPerSec: Math.round(median(rates)),
      minPerSec: Math.round(Math.min(...rates)),
      maxPerSec: Math.round(Math.max(...rates)),
      vsCopy: name === paths[0]![0] ? '' : round(median(ratios), 2),
      cpuUsPerEvent: xs[0]!.cpu
        ? `${name === paths[0]![0] ? 'psql' : 'idx'} ${median(xs.map((x) => x.cpu!.indexer))} pg ${median(xs.map((x) => x.cpu!.postgres))} broker ${median(xs.map((x) => x.cpu!.broker))}`
        : '',
      // What the CPU costs allow on this machine's cores with nothing else running: every party
      // shares the cores, and one tenant's PostgreSQL work runs on one core at a time
      // (docs/timeline.md "Capacity model"), so the bound is the smaller of the two.
      projected2Core: xs[0]!.cpu ? Math.round(capacity(xs.map((x) => x.cpu!))) : '',
      loads: xs.map((x) => `${x.loadBefore}→${x.loadAfter}`).join(' '),
    };
  });
}

/** Part 2: the broker side with no database, our adapter and the raw client, alternating. */
async function brokerSide(events: readonly EventEnvelope[]) {
  const out: Record<string, string | number>[] = [];
  for (const name of BROKERS) {
    const broker = await openBenchBroker(name);
    try {
      await publishAll(broker.publisher, events);
      const variants = SIDE_VARIANTS.map((v): [string, () => Promise<number>] => {
        const m = /^(port):(\d+)x(\d+)$|^(raw):(\d+)$/.exec(v);
        if (!m) throw new Error(`--side-variants: ${v} is not port:<subs>x<batch> or raw:<batch>`);
        return m[1]
          ? [
              `port ${m[2]}×${m[3]}`,
              () => drainWithoutDb(broker, N, { kind: 'port', subscriptions: Number(m[2]), batchSize: Number(m[3]) }),
            ]
          : [`raw ${m[5]}`, () => drainWithoutDb(broker, N, { kind: 'raw', batchSize: Number(m[5]) })];
      });
      const got = new Map<string, Sample[]>(variants.map(([n]) => [n, []]));
      for (let r = 0; r < REPEAT; r++) {
        for (const [v, fn] of r % 2 === 0 ? variants : [...variants].reverse()) got.get(v)!.push(await sample(fn));
      }
      for (const [v] of variants) {
        const xs = got.get(v)!;
        const rates = xs.map((x) => N / (x.ms / 1000));
        out.push({
          broker: name,
          consumer: v,
          medianPerSec: Math.round(median(rates)),
          minPerSec: Math.round(Math.min(...rates)),
          maxPerSec: Math.round(Math.max(...rates)),
          loads: xs.map((x) => `${x.loadBefore}→${x.loadAfter}`).join(' '),
        });
      }
    } finally {
      await broker.cleanup();
    }
  }
  return out;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/**
 * Part 3's data, server-side (as the owner, one statement per table, weekly partitions made by the
 * indexer's own maintenance). Event i: kind i % 12, a random source of 8, subject i % 5000,
 * correlationId i / 20, traceId i / 10 on even i, one digest i % 10000, occurredAt random in 30 days.
 */
async function fillForQueries(db: Db, n: number): Promise<void> {
  await ensurePartitions(db, { interval: 'week', ahead: 5 }, new Date(T0));
  await db.query(`SELECT setseed(0.42)`);
  await db.query(`CREATE TABLE public.gen AS
    SELECT i, 'B' || lpad(i::text, 25, '0') AS id,
      timestamptz '2026-11-01T00:00:00Z' + (floor(random() * ${SPAN})::bigint * interval '1 millisecond') AS at,
      'svc-' || floor(random() * 8)::int AS source,
      'bench.kind' || (i % 12) || '.done' AS kind,
      'registry.local/app-' || (i % 5000) || '@sha256:' || md5('s' || (i % 5000)) || md5('s' || (i % 5000)) AS subject,
      'run-' || (i / 20) AS corr,
      CASE WHEN i % 2 = 0 THEN md5('t' || (i / 10)) END AS trace,
      'sha256:' || md5('d' || (i % 10000)) || md5('d' || (i % 10000)) AS digest
    FROM generate_series(0, ${n - 1}) AS i`);
  await db.query(`ALTER TABLE public.gen ADD COLUMN seq bigint`);
  await db.query(`UPDATE public.gen g SET seq = x.seq FROM
    (SELECT i, row_number() OVER (PARTITION BY source ORDER BY i) AS seq FROM public.gen) x WHERE x.i = g.i`);
  // Details inline, as ingest stores small ones (migration 0005).
  await db.query(`INSERT INTO timeline.events (tenant_id, occurred_at, source, ingest_seq, event_id, kind, subject, correlation_id, trace_id, details)
    SELECT '${TENANT}', at, source, seq, id, kind, subject, corr, trace,
      json_build_object('attributes', json_build_object('index', i, 'digest', digest),
        'payload', json_build_object('step', i % 13, 'note', 'bench event'))::text FROM public.gen`);
  await db.query(`INSERT INTO timeline.event_ids (tenant_id, event_id, occurred_at, source, ingest_seq)
    SELECT '${TENANT}', id, at, source, seq FROM public.gen`);
  await db.query(`INSERT INTO timeline.event_digests (tenant_id, digest, occurred_at, source, ingest_seq)
    SELECT '${TENANT}', digest, at, source, seq FROM public.gen`);
  await db.query(`INSERT INTO timeline.event_arrivals (tenant_id, arrival_seq, occurred_at, source, ingest_seq)
    SELECT '${TENANT}', i + 1, at, source, seq FROM public.gen`);
  await db.query(`INSERT INTO timeline.tenant_arrivals (tenant_id, last_arrival) VALUES ('${TENANT}', ${n})`);
  await db.query(`DROP TABLE public.gen`);
  await db.query('VACUUM ANALYZE');
}

/** Part 3: a filtered page of 100 (and the page after its cursor) at QUERY_EVENTS events. */
async function queries() {
  const t = await freshDb('bench_timeline_query');
  try {
    const f0 = performance.now();
    await fillForQueries(t.db, QUERY_EVENTS);
    args.log(`  filled ${QUERY_EVENTS} events in ${Math.round(performance.now() - f0)} ms (load ${load()})`);
    const r = rng(7);
    const pick = () => Math.floor(r() * QUERY_EVENTS);
    const day = 86_400_000;
    const window = () => {
      const from = T0 + Math.floor(r() * (SPAN - day));
      return { from: new Date(from).toISOString(), to: new Date(from + day).toISOString() };
    };
    const filters: [string, () => TimelineFilters][] = [
      ['none', () => ({})],
      ['kind', () => ({ kind: KINDS[pick() % 12]! })],
      ['source', () => ({ source: SOURCES[Math.floor(r() * 8)]! })],
      [
        'subject',
        () => {
          const k = pick() % 5000;
          return { subject: `registry.local/app-${k}@sha256:${md5(`s${k}`)}${md5(`s${k}`)}` };
        },
      ],
      ['correlationId', () => ({ correlationId: `run-${Math.floor(pick() / 20)}` })],
      ['traceId', () => ({ traceId: md5(`t${Math.floor(pick() / 20) * 2}`) })],
      [
        'digest',
        () => {
          const k = pick() % 10000;
          return { digest: `sha256:${md5(`d${k}`)}${md5(`d${k}`)}` };
        },
      ],
      ['from/to (1 day)', window],
      ['kind + from/to', () => ({ kind: KINDS[pick() % 12]!, ...window() })],
      ['source + from/to', () => ({ source: SOURCES[Math.floor(r() * 8)]!, ...window() })],
    ];
    const rows: Record<string, string | number>[] = [];
    const plans: string[] = [];
    for (const [name, make] of filters) {
      const first: number[] = [];
      const next: number[] = [];
      let sizes = 0;
      for (let q = 0; q < QUERIES; q++) {
        const f = make();
        const s0 = performance.now();
        const page = await t.db.withTenant(TENANT, (tx) => listTimeline(tx, TENANT, f, 100));
        first.push(performance.now() - s0);
        sizes += page.events.length;
        if (page.nextCursor) {
          const s1 = performance.now();
          await t.db.withTenant(TENANT, (tx) => listTimeline(tx, TENANT, f, 100, page.nextCursor));
          next.push(performance.now() - s1);
        }
      }
      first.sort((a, b) => a - b);
      next.sort((a, b) => a - b);
      rows.push({
        filter: name,
        rowsPerPage: round(sizes / QUERIES, 1),
        p50Ms: round(percentile(first, 50), 2),
        p99Ms: round(percentile(first, 99), 2),
        cursorP50Ms: next.length ? round(percentile(next, 50), 2) : '',
        cursorP99Ms: next.length ? round(percentile(next, 99), 2) : '',
        load: load(),
      });
      if (args.flag('explain')) {
        const f = make();
        const page = await t.db.withTenant(TENANT, (tx) => listTimeline(tx, TENANT, f, 100));
        for (const [label, cursor] of [
          ['first page', undefined],
          ['after cursor', page.nextCursor],
        ] as const) {
          if (label === 'after cursor' && !cursor) continue;
          const q = timelinePageQuery(TENANT, f, 100, cursor);
          const plan = await t.db.withTenant(TENANT, (tx) =>
            tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params),
          );
          plans.push(`--- ${name}, ${label}\n${plan.rows.map((x) => x['QUERY PLAN']).join('\n')}`);
        }
      }
    }
    return { rows, plans };
  } finally {
    await t.drop();
  }
}

async function main(): Promise<void> {
  args.log(machineLine());
  args.log(
    `events ${N}, batch ${BATCH}, repeat ${REPEAT}, brokers ${BROKERS.join(',') || 'none'}, indexer consumers ${CONSUMERS}×${BUS_BATCH}`,
  );
  const events = makeEvents();
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-timeline-'));
  const peak = rssSampler();
  const result: Record<string, unknown> = { events: N, batch: BATCH, repeat: REPEAT };
  try {
    if (!ONLY || ONLY === 'ingest') {
      const ingest = await ingestRounds(events, dir);
      result['ingest'] = ingest;
      printTable(ingest, args.log);
    }
    if ((!ONLY || ONLY === 'brokers') && !args.flag('no-broker-side') && BROKERS.length > 0) {
      const side = await brokerSide(events);
      result['brokerSide'] = side;
      printTable(side, args.log);
    }
    if (!ONLY || ONLY === 'queries') {
      args.log(`queries: ${QUERIES} per filter at ${QUERY_EVENTS} events`);
      const q = await queries();
      result['queries'] = q.rows;
      printTable(q.rows, args.log);
      for (const p of q.plans) args.log(p);
    }
    args.log(`peak RSS ${round(peak(), 1)} MiB`);
    if (args.json) process.stdout.write(`${JSON.stringify({ ...result, peakRssMiB: round(peak(), 1) })}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
