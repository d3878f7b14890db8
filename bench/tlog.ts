/**
 * Transparency log (issue 12 item 4): sustained appends per second with dedupe on real PostgreSQL
 * and the filesystem object store while the sequencer integrates and publishes checkpoints in the
 * same process, the append → checkpoint latency, and proof size / generation / verification time
 * at 1,000,000 entries.
 *
 *   node --conditions=development --import tsx bench/tlog.ts [--entries 20000] [--concurrency 64]
 *        [--dupes 0.1] [--runs 3] [--million 1000000] [--json]
 *
 * Appends: `--entries` single-entry `append()` calls (a fraction `--dupes` repeats an earlier
 * entry), at most `--concurrency` in flight, sequencer running (batches ≤ 4096). Baseline in the
 * same run, alternated A/B: the raw pg driver doing the same INSERT … ON CONFLICT DO NOTHING into a
 * bare table with the same concurrency — the floor of any Postgres-backed queue. Medians of runs.
 * Latency: for every entry, append start → the moment the first checkpoint containing it was
 * committed (p50/p95/max).
 * Proofs: `--million` entries appended in batches of 10,000 and integrated in batches of 100,000
 * through the same storage; then 200 inclusion proofs and 200 consistency proofs from random sizes
 * read from storage (ms, tiles read), their size in bytes, and their verification time.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { leafHash, verifyConsistency, verifyInclusion } from '@stella/core/merkle';
import { TileTree, generateNoteKey, parseSignerKey } from '@stella/core/tlog';
import { PLATFORM_MIGRATIONS, migrate, openDb } from '@stella/platform/db';
import { FsObjectStore } from '@stella/platform/object-store';
import { TLOG_MIGRATIONS, TransparencyLog } from '@stella/platform/tlog';
import { createTestDatabase, tempDir } from '@stella/testkit';
import { benchArgs } from './lib/args.js';
import { alternate, machineLine, median, percentile, round } from './lib/measure.js';

const a = benchArgs();
const N = a.num('entries', 20000);
const C = a.num('concurrency', 64);
const DUPES = a.num('dupes', 0.1);
const RUNS = a.num('runs', 3);
const MILLION = a.num('million', 1_000_000);
const enc = (s: string) => new TextEncoder().encode(s);

a.log(machineLine());
const target = await createTestDatabase('bench_tlog');
const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 16 });
await migrate(db, [PLATFORM_MIGRATIONS, TLOG_MIGRATIONS]);
const dir = await tempDir('bench-tlog-');
const store = new FsObjectStore({ root: dir.path });
const raw = new pg.Pool({ connectionString: target.url, max: 16 });
await raw.query('CREATE TABLE bench_raw (log_id text, digest bytea, data bytea, PRIMARY KEY (log_id, digest))');
const key = generateNoteKey('bench.stella/tlog', randomBytes(32));
const signer = parseSignerKey(key.skey);

/** The entry stream of one run: `N` appends, a fraction of them repeats of earlier ones. */
function entriesOf(run: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const dup = i > 0 && (i * 7919) % 1000 < DUPES * 1000;
    out.push(enc(dup ? `${run}-${Math.floor(i / 2)}` : `${run}-${i}`));
  }
  return out;
}

async function inFlight(items: readonly Uint8Array[], fn: (e: Uint8Array, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

async function oursRun(run: number) {
  const published: { size: number; at: number }[] = [];
  const log = await TransparencyLog.open({
    db,
    store,
    logId: `bench-${run}`,
    origin: `bench.stella/tlog/${run}`,
    signers: [signer],
    onPhase: (phase, size) => phase === 'published' && published.push({ size, at: performance.now() }),
  });
  const entries = entriesOf(`o${run}`);
  const starts = new Float64Array(N);
  const digests: string[] = new Array<string>(N);
  const seq = log.startSequencer({ idleMs: 20 });
  const t0 = performance.now();
  let dupes = 0;
  await inFlight(entries, async (e, i) => {
    starts[i] = performance.now();
    const r = await log.append(e);
    digests[i] = r.digest;
    if (r.duplicate) dupes++;
  });
  const appendMs = performance.now() - t0;
  while ((await log.pending()) > 0) await new Promise((r) => setTimeout(r, 10));
  await seq.stop();
  const totalMs = performance.now() - t0;
  // Index of every first occurrence → the first checkpoint containing it.
  const { rows } = await db.query<{ digest: Buffer; idx: string }>(
    'SELECT digest, idx FROM tlog.entries WHERE log_id = $1',
    [`bench-${run}`],
  );
  const idxOf = new Map(rows.map((r) => [`sha256:${r.digest.toString('hex')}`, Number(r.idx)]));
  const seen = new Set<string>();
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    if (seen.has(digests[i]!)) continue;
    seen.add(digests[i]!);
    const idx = idxOf.get(digests[i]!)!;
    const cp = published.find((p) => p.size > idx)!;
    lat.push(cp.at - starts[i]!);
  }
  lat.sort((x, y) => x - y);
  return {
    appendsPerSec: Math.round(N / (appendMs / 1000)),
    integratedPerSec: Math.round(seen.size / (totalMs / 1000)),
    dupes,
    checkpoints: published.length,
    p50: round(percentile(lat, 50), 1),
    p95: round(percentile(lat, 95), 1),
    max: round(lat[lat.length - 1]!, 1),
  };
}

async function rawRun(run: number) {
  const entries = entriesOf(`r${run}`);
  const t0 = performance.now();
  await inFlight(entries, async (e) => {
    const d = createHash('sha256').update(e).digest();
    await raw.query('INSERT INTO bench_raw (log_id, digest, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      `raw-${run}`,
      d,
      Buffer.from(e),
    ]);
  });
  return { appendsPerSec: Math.round(N / ((performance.now() - t0) / 1000)) };
}

const ours: Awaited<ReturnType<typeof oursRun>>[] = [];
const base: Awaited<ReturnType<typeof rawRun>>[] = [];
for (let run = 0; run < RUNS; run++) {
  const [o, b] = await alternate(
    run,
    () => oursRun(run),
    () => rawRun(run),
  );
  ours.push(o);
  base.push(b);
  a.log(
    `run ${run}: ours ${o.appendsPerSec} appends/s (${o.dupes} dupes), integrated ${o.integratedPerSec}/s in ${o.checkpoints} checkpoints, ` +
      `append→checkpoint p50 ${o.p50} ms p95 ${o.p95} ms max ${o.max} ms | raw pg INSERT ${b.appendsPerSec}/s`,
  );
}
const appendsMedian = median(ours.map((o) => o.appendsPerSec));
const rawMedian = median(base.map((b) => b.appendsPerSec));
const p95Median = median(ours.map((o) => o.p95));
a.log(
  `appends (median of ${RUNS}): ours ${appendsMedian}/s vs raw pg ${rawMedian}/s (ratio ${round(appendsMedian / rawMedian, 2)}×), append→checkpoint p95 ${p95Median} ms`,
);

// ---- 1,000,000 entries: proof size, generation and verification ---------------------------------
let million: Record<string, number> | undefined;
if (MILLION > 0) {
  const log = await TransparencyLog.open({
    db,
    store,
    logId: 'bench-million',
    origin: 'bench.stella/tlog/million',
    signers: [signer],
    maxBatch: 100_000,
  });
  const t0 = performance.now();
  for (let i = 0; i < MILLION; i += 10_000)
    await log.appendMany(Array.from({ length: Math.min(10_000, MILLION - i) }, (_, j) => enc(`m-${i + j}`)));
  const appendMs = performance.now() - t0;
  const sizes: { size: number; root: Uint8Array }[] = [];
  for (;;) {
    const r = await log.integrate();
    if (r.busy || r.integrated === 0) break;
    sizes.push({ size: r.size, root: r.rootHash });
  }
  const buildMs = performance.now() - t0;
  const cp = await log.checkpoint();
  a.log(
    `million: ${cp.size} entries appended in ${round(appendMs / 1000, 1)} s, integrated in ${sizes.length} checkpoints, total ${round(buildMs / 1000, 1)} s`,
  );
  const gen: number[] = [];
  const ver: number[] = [];
  const tiles: number[] = [];
  const cgen: number[] = [];
  const cver: number[] = [];
  let inclBytes = 0;
  let consBytes = 0;
  for (let k = 0; k < 200; k++) {
    const idx = Math.floor(Math.random() * cp.size);
    const tree = new TileTree(log.tileReader(), cp.size);
    let t = performance.now();
    const p = await tree.inclusionProof(idx);
    const leaf = await tree.leafHash(idx);
    gen.push(performance.now() - t);
    tiles.push(tree.tilesRead);
    inclBytes = Math.max(inclBytes, p.hashes.length * 32);
    t = performance.now();
    verifyInclusion(leafHash(enc(`m-${idx}`)), idx, cp.size, p.hashes, cp.rootHash);
    ver.push(performance.now() - t);
    void leaf;
    const old = sizes[Math.floor(Math.random() * (sizes.length - 1))]!;
    const tree2 = new TileTree(log.tileReader(), cp.size);
    t = performance.now();
    const c = await tree2.consistencyProof(old.size);
    cgen.push(performance.now() - t);
    consBytes = Math.max(consBytes, c.hashes.length * 32);
    t = performance.now();
    verifyConsistency(old.size, cp.size, c.hashes, old.root, cp.rootHash);
    cver.push(performance.now() - t);
  }
  const s = (xs: number[]) => xs.sort((x, y) => x - y);
  million = {
    size: cp.size,
    inclusionProofBytes: inclBytes,
    consistencyProofBytes: consBytes,
    inclusionGenP50Ms: round(percentile(s(gen), 50), 2),
    inclusionGenP95Ms: round(percentile(gen, 95), 2),
    tilesReadMedian: median(tiles),
    tilesReadMax: Math.max(...tiles),
    inclusionVerifyP50Us: round(percentile(s(ver), 50) * 1000, 1),
    consistencyGenP50Ms: round(percentile(s(cgen), 50), 2),
    consistencyVerifyP50Us: round(percentile(s(cver), 50) * 1000, 1),
  };
  a.log(
    `million: inclusion proof ${inclBytes} B, from storage p50 ${million.inclusionGenP50Ms} ms p95 ${million.inclusionGenP95Ms} ms ` +
      `(${million.tilesReadMedian} tiles, max ${million.tilesReadMax}), verify p50 ${million.inclusionVerifyP50Us} µs; ` +
      `consistency proof ≤ ${consBytes} B, from storage p50 ${million.consistencyGenP50Ms} ms, verify p50 ${million.consistencyVerifyP50Us} µs`,
  );
}
a.log(machineLine());

if (a.json)
  process.stdout.write(
    `${JSON.stringify({ bench: 'tlog', entries: N, concurrency: C, dupes: DUPES, ours, raw: base, appendsMedian, rawMedian, p95Median, million })}\n`,
  );
await raw.end();
await db.close();
await target.drop();
await dir.cleanup();
