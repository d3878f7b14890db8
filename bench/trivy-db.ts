/**
 * `trivy:db` at scale (issue #14 acceptance "bench/trivy-db"): N advisories synthesised from the
 * OSV dataset shapes go through the real adapter (mapping, external sort, our bbolt writer,
 * db.tar.gz) in a child process; then, pair by pair and alternating who goes first, our
 * BboltWriter and the Go bbolt library (interop/cmd/bbolt-write: trivy-db's way — transactions of
 * 10,000 puts with CreateBucketIfNotExists — then bbolt.Compact as upstream publishes) write the
 * very same keys and values (the node stream read back from the adapter's trivy.db). Both sides run
 * under GNU time in their own process, so CPU and peak RSS are measured the same way. Medians.
 *
 *   node --conditions=development --import tsx bench/trivy-db.ts [--records 100000] [--runs 5]
 *        [--adapter-runs 3] [--batch 10000] [--no-delta] [--json]
 *
 * Last, unless --no-delta: the same N advisories with 1 % revised, exported again, and the delta
 * between the two DBs made and applied (size against the full db.tar.gz, time, byte identity).
 *
 * Needs Go (the harness is built through @stella/testkit's goHarness) and GNU time.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { encodeOps, readBbolt, type DeltaOp } from '@stella/export-center/adapters/trivy';
import { goHarness } from '@stella/testkit';
import { benchArgs } from './lib/args.js';
import { alternate, machineLine, median, printTable, round, runBaseline, type ToolRun } from './lib/measure.js';

const args = benchArgs();
const N = args.num('records', 100_000);
const RUNS = args.num('runs', 5);
const ADAPTER_RUNS = args.num('adapter-runs', 3);
const BATCH = args.num('batch', 10_000);
const CHILD = fileURLToPath(new URL('./lib/trivy-db-child.ts', import.meta.url));
const NODE = [process.execPath, '--conditions=development', '--import', 'tsx', CHILD];
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

interface ChildOut {
  /** Wall ms of the work itself (after module loading). */
  ms: number;
  rssBeforeKiB: number;
  cpuMs: number;
  maxRssKiB: number;
  db?: string;
  counts?: Record<string, number>;
  files?: { path: string; size: number }[];
}

async function* writeOps(db: string): AsyncGenerator<DeltaOp> {
  for await (const n of readBbolt(db))
    yield n.value === null ? { op: 'bucket', path: n.path } : { op: 'put', path: n.path, value: n.value };
}

const work = await mkdtemp(join(tmpdir(), 'stella-bench-trivy-'));
try {
  args.log(machineLine());
  args.log(`load at start: ${load()}`);
  const bboltWrite = await goHarness('bbolt-write');

  // 1. The adapter end to end (records → trivy.db + metadata.json + db.tar.gz).
  const adapterRuns: { run: ToolRun; out: ChildOut }[] = [];
  for (let i = 0; i < ADAPTER_RUNS; i++) {
    const dir = join(work, `adapter-${i}`);
    const r = await runBaseline(NODE[0]!, [...NODE.slice(1), 'adapter', String(N), dir]);
    const out = JSON.parse(r.stdout.toString().trim().split('\n').pop()!) as ChildOut;
    adapterRuns.push({ run: r, out });
    args.log(
      `adapter run ${i + 1}: ${round(out.ms / 1000, 1)} s wall, ${round(r.cpuMs / 1000, 1)} s CPU, ${round(r.peakRssMiB, 0)} MiB peak RSS (load ${load()})`,
    );
    if (i > 0) await rm(dir, { recursive: true, force: true });
  }
  const first = adapterRuns[0]!.out;
  const db = first.db!;
  const dbBytes = (await stat(db)).size;
  const tgz = first.files!.find((f) => f.path === 'trivy/db.tar.gz')!.size;

  // 2. The key/value stream both writers get.
  const stream = join(work, 'nodes.bin');
  let nodes = 0;
  let puts = 0;
  await pipeline(
    encodeOps(
      (async function* () {
        for await (const o of writeOps(db)) {
          nodes++;
          if (o.op === 'put') puts++;
          yield o;
        }
      })(),
    ),
    createWriteStream(stream),
  );
  args.log(
    `trivy.db ${dbBytes} bytes, db.tar.gz ${tgz} bytes; ${nodes} nodes (${puts} key/values, ${nodes - puts} buckets), stream ${(await stat(stream)).size} bytes`,
  );

  // 3. Paired: our writer vs Go bbolt (+ compact), alternating.
  const ts: { run: ToolRun; out: ChildOut }[] = [];
  const go: { run: ToolRun; out: Record<string, number> }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const tsOut = join(work, `ts-${i}.db`);
    const goOut = join(work, `go-${i}.db`);
    const [a, b] = await alternate(
      i,
      async () => {
        const r = await runBaseline(NODE[0]!, [...NODE.slice(1), 'writer', stream, tsOut]);
        return { run: r, out: JSON.parse(r.stdout.toString().trim()) as ChildOut };
      },
      async () => {
        const r = await runBaseline(bboltWrite, ['-batch', String(BATCH), '-compact', stream, goOut]);
        return { run: r, out: JSON.parse(r.stdout.toString().trim()) as Record<string, number> };
      },
    );
    if (i === 0 && !(await readFile(tsOut)).equals(await readFile(db)))
      throw new Error('our writer did not reproduce the adapter’s trivy.db from its own nodes');
    ts.push(a);
    go.push(b);
    args.log(
      `pair ${i + 1}: ours ${round(a.run.ms, 0)} ms wall / ${round(a.run.cpuMs, 0)} ms CPU / ${round(a.run.peakRssMiB, 0)} MiB; ` +
        `go ${round(b.run.ms, 0)} ms wall (write ${round(b.out.writeMs!, 0)} + compact ${round(b.out.compactMs!, 0)}) / ${round(b.run.cpuMs, 0)} ms CPU / ${round(b.run.peakRssMiB, 0)} MiB (load ${load()})`,
    );
    await rm(tsOut, { force: true });
    await rm(goOut, { force: true });
    await rm(`${goOut}.compact`, { force: true });
  }
  // 4. A delta for 1 % changed advisories at this scale (issue #14 acceptance: < 5 % of the full bundle).
  let deltaRow: Record<string, string | number> | undefined;
  if (!args.flag('no-delta')) {
    const { createTrivyDbDelta, applyTrivyDbDelta } = await import('@stella/export-center/adapters/trivy');
    const { createStagingSink } = await import('@stella/export-center');
    const changedDir = join(work, 'adapter-changed');
    const rc = await runBaseline(NODE[0]!, [...NODE.slice(1), 'adapter', String(N), changedDir, 'changed']);
    const changedOut = JSON.parse(rc.stdout.toString().trim().split('\n').pop()!) as ChildOut;
    const baseTgz = join(dirname(first.db!), 'db.tar.gz');
    const targetTgz = join(dirname(changedOut.db!), 'db.tar.gz');
    const sink = await createStagingSink(join(work, 'delta'));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const m = await createTrivyDbDelta({ base: baseTgz, target: targetTgz, out: sink });
    const makeMs = performance.now() - t0;
    const makeCpu = process.cpuUsage(c0);
    const deltaBytes = sink.files().reduce((s, f) => s + f.size, 0);
    const c1 = process.cpuUsage();
    const t1 = performance.now();
    const outDir = join(work, 'rebuilt');
    await applyTrivyDbDelta({ deltaDir: join(sink.dir, 'trivy-delta'), base: baseTgz, outDir });
    const applyMs = performance.now() - t1;
    const applyCpu = process.cpuUsage(c1);
    if (!(await readFile(join(outDir, 'db.tar.gz'))).equals(await readFile(targetTgz)))
      throw new Error('the rebuilt db.tar.gz differs from the target');
    const full = (await stat(targetTgz)).size;
    args.log(
      `delta for 1 % changed advisories: ${deltaBytes} bytes = ${round((deltaBytes / full) * 100, 2)} % of db.tar.gz (${full} bytes); ${m.changes.operations} operations; make ${round(makeMs / 1000, 1)} s wall / ${round((makeCpu.user + makeCpu.system) / 1e6, 1)} s CPU, apply ${round(applyMs / 1000, 1)} s wall / ${round((applyCpu.user + applyCpu.system) / 1e6, 1)} s CPU; rebuilt db.tar.gz byte-identical (load ${load()})`,
    );
    deltaRow = { deltaBytes, fullBytes: full, operations: m.changes.operations, makeMs, applyMs };
  }
  const goSizes = go[0]!.out;
  const rows = [
    {
      case: `trivy:db adapter, ${N} advisories → trivy.db + db.tar.gz`,
      'wall s': round(median(adapterRuns.map((r) => r.run.ms)) / 1000, 1),
      'CPU s': round(median(adapterRuns.map((r) => r.run.cpuMs)) / 1000, 1),
      'peak RSS MiB': round(median(adapterRuns.map((r) => r.run.peakRssMiB)), 0),
      'file bytes': dbBytes,
    },
    {
      case: `ours: BboltWriter, ${puts} key/values (process incl. tsx start)`,
      'wall s': round(median(ts.map((r) => r.run.ms)) / 1000, 2),
      'CPU s': round(median(ts.map((r) => r.run.cpuMs)) / 1000, 2),
      'peak RSS MiB': round(median(ts.map((r) => r.run.peakRssMiB)), 0),
      'file bytes': dbBytes,
    },
    {
      case: '  ours: write only (in-process wall; RSS after module load)',
      'wall s': round(median(ts.map((r) => r.out.ms)) / 1000, 2),
      'CPU s': '',
      'peak RSS MiB': round(median(ts.map((r) => r.out.rssBeforeKiB)) / 1024, 0),
      'file bytes': '',
    },
    {
      case: `go bbolt: tx of ${BATCH} puts + Compact (process)`,
      'wall s': round(median(go.map((r) => r.run.ms)) / 1000, 2),
      'CPU s': round(median(go.map((r) => r.run.cpuMs)) / 1000, 2),
      'peak RSS MiB': round(median(go.map((r) => r.run.peakRssMiB)), 0),
      'file bytes': goSizes.compactBytes!,
    },
    {
      case: '  go: write phase only (before Compact)',
      'wall s': round(median(go.map((r) => r.out.writeMs!)) / 1000, 2),
      'CPU s': '',
      'peak RSS MiB': '',
      'file bytes': goSizes.bytes!,
    },
  ];
  printTable(rows as Record<string, string | number>[], args.log);
  args.log(`load at end: ${load()}`);
  if (args.json)
    process.stdout.write(
      `${JSON.stringify({ records: N, runs: RUNS, nodes, puts, dbBytes, tgzBytes: tgz, rows, delta: deltaRow, load: loadavg(), counts: first.counts })}\n`,
    );
} finally {
  await rm(work, { recursive: true, force: true });
}
