/**
 * Where one event's ingest time goes: runs `storeTenantBatch` over N bench events (batches of B,
 * one connection) with every statement timed by its first words, plus the backend's CPU from
 * /proc/<pid>/stat. A diagnostic, not a benchmark of record.
 *
 *   node --conditions=development --import tsx bench/timeline-profile.ts [--events 100000] [--batch 500]
 */
import { readFileSync } from 'node:fs';
import { newEvent, type EventEnvelope } from '@stella/platform/bus';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Tx } from '@stella/platform/db';
import { createTestDatabase } from '@stella/testkit';
import { storeTenantBatch, timelineIndexerService } from '@stella/timeline-indexer';
import { benchArgs } from './lib/args.js';
import { machineLine, printTable, round } from './lib/measure.js';

const args = benchArgs();
const N = args.num('events', 100_000);
const BATCH = args.num('batch', 500);
/** Split each batch by source and store the parts concurrently (one transaction each). */
const SPLIT = args.flag('split-sources');
/** Indexes of timeline.* to drop before the run (what each one costs the write). */
const WITHOUT = args.opt('without', '').split(',').filter(Boolean);
const T0 = Date.parse('2026-11-01T00:00:00Z');
const SPAN = 30 * 24 * 3600 * 1000;

function events(): EventEnvelope[] {
  let a = 42;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: N }, (_, i) =>
    newEvent({
      tenant: 'bench',
      kind: `bench.kind${i % 12}.done`,
      source: `svc-${Math.floor(r() * 8)}`,
      occurredAt: new Date(T0 + Math.floor(r() * SPAN)),
      subject: `registry.local/app-${i % 500}@sha256:${(i % 500).toString(16).padStart(64, '0')}`,
      correlationId: `run-${Math.floor(i / 20)}`,
      attributes: { index: i, ok: i % 7 !== 0 },
      payload: { step: i % 13, note: 'bench event' },
    }),
  );
}

const ticks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
};

const target = await createTestDatabase('bench_timeline_profile');
const db = await openDb({ kind: 'postgres', url: target.url, poolMax: SPLIT ? 8 : 1 });
try {
  await migrate(db, [PLATFORM_MIGRATIONS, timelineIndexerService.migrations]);
  args.log(machineLine());
  for (const ix of WITHOUT) await db.query(`DROP INDEX timeline.${ix.replace(/[^a-z0-9_]/g, '')}`);
  if (WITHOUT.length > 0) args.log(`without ${WITHOUT.join(', ')}`);
  const all = events();
  const pid = Number((await db.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p);
  const spent = new Map<string, number>();
  const label = (sql: string) => sql.replace(/\s+/g, ' ').trim().split(' ').slice(0, 3).join(' ');
  const c0 = ticks(pid);
  const n0 = process.cpuUsage();
  const t0 = performance.now();
  const store = (batch: EventEnvelope[]) =>
    db.withTenant('bench', async (tx) => {
      const timed: Tx = {
        ...tx,
        query: async (sql: string, params?: readonly unknown[]) => {
          const s = performance.now();
          try {
            return await tx.query(sql, params);
          } finally {
            const k = label(sql);
            spent.set(k, (spent.get(k) ?? 0) + performance.now() - s);
          }
        },
      } as Tx;
      return storeTenantBatch(timed, 'bench', batch);
    });
  for (let i = 0; i < all.length; i += BATCH) {
    const batch = all.slice(i, i + BATCH);
    if (!SPLIT) await store(batch);
    else {
      const parts = new Map<string, EventEnvelope[]>();
      for (const e of batch) parts.set(e.source, [...(parts.get(e.source) ?? []), e]);
      await Promise.all([...parts.values()].map(store));
    }
  }
  const ms = performance.now() - t0;
  const pgUs = ((ticks(pid) - c0) * 10_000) / N;
  const node = process.cpuUsage(n0);
  const rows = [...spent]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => ({ statement: k, ms: Math.round(v), usPerEvent: round((v * 1000) / N, 1) }));
  printTable(rows, args.log);
  args.log(
    `total ${Math.round(ms)} ms = ${Math.round(N / (ms / 1000))} events/s; PG backend CPU ${round(pgUs, 1)} µs/event; node CPU ${round((node.user + node.system) / N, 1)} µs/event`,
  );
  const size = await db.query<{ t: string; b: string }>(
    `SELECT c.relname AS t, pg_total_relation_size(c.oid)::text AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'timeline' AND c.relkind = 'r' AND pg_total_relation_size(c.oid) > 16384 ORDER BY 2 DESC`,
  );
  for (const r of size.rows) args.log(`${r.t}: ${round(Number(r.b) / N, 0)} B/event`);
} finally {
  await db.close();
  await target.drop();
}
