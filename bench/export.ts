/**
 * Export Center end to end (issue #10 acceptance "bench/export"; DESIGN.md §5): N advisories
 * synthesised from the OSV dataset shapes are imported into a real PostgreSQL database (one
 * ledger sequence pins them), a `json:raw` gzip profile is run through the API on a worker in
 * its own process (the service's real worker and engine: ledger pages → adapter → staging →
 * DSSE-signed export.tgz → object store), and the run's Server-Sent Events are followed with the
 * SDK from run creation to the `final` event. Beside it, in the same run and alternated pair by
 * pair, GNU `gzip -6` compresses the very JSONL the run writes (taken out of a `compression:
 * none` bundle of the same records), and likewise a `json:raw` zstd run beside `zstd -3`. Then the
 * peak RSS of a fresh worker process exporting `--small`, N and `--huge` records (median of
 * `--rss-runs`), to show memory stays flat; the worker runs as `stella serve` does, in its
 * bounded-heap thread (ADR 0016), and `--uncapped-runs` more runs per size on a worker with
 * STELLA_EXPORT_WORKER_HEAP_MIB=0 (the old in-thread worker) for comparison.
 *
 *   node --conditions=development --import tsx bench/export.ts [--records 100000] [--small 10000]
 *        [--huge 300000] [--runs 5] [--rss-runs 3] [--uncapped-runs 1] [--capped-heap-mib 64] [--json]
 *
 * The `--small` and N tenants are imported through the importer; the `--huge` tenant is seeded by
 * copying the N tenant's stored records in SQL (new record ids and digests, the document's id
 * rewritten), because importing 300,000 documents would take most of the bench on this machine.
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust auth), gzip, zstd and tar; the database and files are removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { defaultEngine } from '@stella/export-center';
import { importSource } from '@stella/export-center/sources';
import {
  osvTemplates,
  startExportHarness,
  synthesiseAdvisories,
  type ExportHarness,
} from '@stella/export-center/testing';
import { ExportApi, StellaClient } from '@stella/sdk';
import { createTestDatabase, datasetsDir } from '@stella/testkit';
import { benchArgs } from './lib/args.js';
import { alternate, machineLine, median, printTable, round, runBaseline } from './lib/measure.js';

const args = benchArgs();
const N = args.num('records', 100_000);
const SMALL = args.num('small', 10_000);
const RUNS = args.num('runs', 5);
const RSS_RUNS = args.num('rss-runs', 3);
/** 0: no third size. Must be a multiple of N (seeded as copies of the N tenant's records). */
const HUGE = args.num('huge', 300_000);
const UNCAPPED_RUNS = args.num('uncapped-runs', 1);
/** > 0: also export N records on a worker whose V8 old space is capped at this many MiB. */
const CAPPED_HEAP = args.num('capped-heap-mib', 0);
const WORKER = fileURLToPath(new URL('./lib/export-worker.ts', import.meta.url));

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const minMax = (xs: number[], d = 0) => `${round(Math.min(...xs), d)}–${round(Math.max(...xs), d)}`;

/** An OSV JSON array of `count` synthesised advisories (the dataset's entries as templates). */
async function writeOsvArray(path: string, templates: unknown[], count: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('[');
  let i = 0;
  for await (const r of synthesiseAdvisories(templates, count))
    if (!out.write((i++ > 0 ? ',\n' : '') + JSON.stringify(r.document))) await once(out, 'drain');
  out.end(']');
  await once(out, 'finish');
}

/** The export worker in its own process; CPU from /proc, peak RSS reported when it stops. */
class WorkerProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: string[],
  ) {}

  static async start(
    h: ExportHarness,
    nodeArgs: readonly string[] = [],
    env: Record<string, string> = {},
  ): Promise<WorkerProcess> {
    const store = h.deps.config.objectStore;
    if (store.kind !== 'file') throw new Error('bench needs the fs object store');
    const child = spawn(
      process.execPath,
      [
        ...nodeArgs,
        '--conditions=development',
        '--import',
        'tsx',
        WORKER,
        h.deps.config.database.kind === 'postgres' ? h.deps.config.database.url : '',
        store.root,
        h.deps.signingKey,
      ],
      { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env: { ...process.env, ...env } },
    );
    const lines: string[] = [];
    let buf = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (lines.at(-1) === 'ready') resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`export worker exited ${code} before it was ready`)));
    });
    await ready;
    return new WorkerProcess(child, lines);
  }

  /** User + system CPU of the worker process so far (ms), from /proc/<pid>/stat (clock ticks of 10 ms). */
  async cpuMs(): Promise<number> {
    const stat = await readFile(`/proc/${this.child.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  }

  /** Stops it; its peak RSS over its life (MiB): VmHWM of /proc/<pid>/status, read just before. */
  async stop(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const kib = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]);
    const closed = once(this.child, 'close');
    this.child.kill('SIGTERM');
    await closed;
    if (!Number.isFinite(kib)) throw new Error('no VmHWM in /proc/<pid>/status');
    return kib / 1024;
  }
}

interface RunResult {
  id: string;
  /** Run creation (POST) to the `final` event received. */
  ms: number;
  cpuMs: number;
  size: number;
  digest: string;
  /** Hash over the sorted content digests: equal for equal inputs (the archive also names the run). */
  rerunHash: string;
  events: number;
  progress: number;
  /** Event `at` (written by the worker) to received by the SSE client, per event. */
  lagMs: number[];
}

/** One export run through the API, followed on its SSE stream until `final`. */
async function exportRun(api: ExportApi, worker: WorkerProcess | null, profileId: string): Promise<RunResult> {
  const c0 = worker ? await worker.cpuMs() : 0;
  const t0 = performance.now();
  const run = await api.startRun({ profileId });
  let events = 0;
  let progress = 0;
  const lagMs: number[] = [];
  for await (const e of api.events(run.id)) {
    if (e.type === 'heartbeat') continue;
    events++;
    if (e.type === 'progress') progress++;
    if (e.data.at) lagMs.push(Date.now() - Date.parse(e.data.at));
    if (e.type === 'final') {
      const ms = performance.now() - t0;
      const d = e.data as {
        status: string;
        result?: { size: number; digest: string; rerunHash: string };
        failure?: unknown;
      };
      if (d.status !== 'succeeded' || !d.result) throw new Error(`run ${run.id} ended ${JSON.stringify(d)}`);
      const cpuMs = worker ? (await worker.cpuMs()) - c0 : NaN;
      return {
        id: run.id,
        ms,
        cpuMs,
        size: d.result.size,
        digest: d.result.digest,
        rerunHash: d.result.rerunHash,
        events,
        progress,
        lagMs,
      };
    }
  }
  throw new Error(`run ${run.id}: the event stream ended without a final event`);
}

async function main(): Promise<void> {
  args.log(machineLine());
  args.log(`records ${N}, small ${SMALL}, runs ${RUNS}, rss runs ${RSS_RUNS}; load at start ${load()}`);
  const loads: string[] = [load()];
  const templates = await osvTemplates(datasetsDir);
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-export-'));
  const target = await createTestDatabase('bench_export');
  let h: ExportHarness | undefined;
  try {
    h = await startExportHarness({ engine: defaultEngine, databaseUrl: target.url });
    const harness = h;
    const apiFor = async (tenant: string) =>
      new ExportApi(new StellaClient({ server: harness.url, token: await harness.token(tenant), tenant }), tenant);

    // Sources: each count its own tenant, imported through the importer the HTTP route runs.
    const cases = [
      { tenant: 'bench-small', count: SMALL },
      { tenant: 'bench-large', count: N },
    ];
    for (const c of cases) {
      const path = join(dir, `${c.tenant}.json`);
      await writeOsvArray(path, templates, c.count);
      const mib = (await stat(path)).size / 2 ** 20;
      const t0 = performance.now();
      const s = await importSource(createReadStream(path), {
        kind: 'advisory',
        scope: { tenant: c.tenant, global: false },
        transaction: (fn) => harness.db.withTenant(c.tenant, fn),
      });
      if (s.imported !== c.count || s.rejectedCount !== 0)
        throw new Error(`imported ${s.imported} of ${c.count}, rejected ${s.rejectedCount}`);
      const ms = performance.now() - t0;
      args.log(
        `import ${c.count} OSV advisories (${round(mib, 1)} MiB) into PostgreSQL: ${round(ms / 1000, 1)} s, ${Math.round(c.count / (ms / 1000))} records/s`,
      );
      await rm(path);
    }
    if (HUGE > 0) {
      if (HUGE % N !== 0) throw new Error('--huge must be a multiple of --records');
      const t0 = performance.now();
      const admin = new pg.Client({ connectionString: target.url });
      await admin.connect();
      try {
        // Owner connection (RLS does not apply to it). The trigger numbers the rows as usual.
        await admin.query(
          `INSERT INTO export_center.source_records
             (tenant_id, kind, record_id, project, digest, format, ecosystem, packages, severity, modified_at, document, document_bytes)
           SELECT 'bench-huge', kind, nid, project, 'sha256:' || encode(sha256(convert_to(doc, 'UTF8')), 'hex'),
                  format, ecosystem, packages, severity, modified_at, doc, octet_length(convert_to(doc, 'UTF8'))
             FROM (SELECT s.*, s.record_id || '-' || g AS nid,
                          replace(s.document, '"id":"' || s.record_id || '"', '"id":"' || s.record_id || '-' || g || '"') AS doc, g
                     FROM export_center.source_records s, generate_series(1, $1::int) g
                    WHERE s.tenant_id = 'bench-large') c
            ORDER BY g, record_id`,
          [HUGE / N],
        );
        // Autovacuum is off on this machine's PostgreSQL (docs/benchmarks.md, Timeline): without
        // fresh statistics the ledger pages of a table that just grew 4× got a poor plan, and the
        // run waited on PostgreSQL (100,000 records: 120 s wall for 11 s of worker CPU).
        await admin.query('ANALYZE export_center.source_records');
      } finally {
        await admin.end();
      }
      args.log(
        `seeded ${HUGE} records (${HUGE / N} copies of the ${N}) in SQL: ${round((performance.now() - t0) / 1000, 1)} s`,
      );
    }
    const profile = async (tenant: string, compression: 'gzip' | 'zstd' | 'none') =>
      (
        await (
          await apiFor(tenant)
        ).createProfile({
          name: `bench ${compression}`,
          adapter: 'json:raw',
          adapterOptions: { compression } as never,
          filter: { kinds: ['advisory'] },
        })
      ).id;
    const large = await apiFor('bench-large');
    const small = await apiFor('bench-small');
    const gzipLarge = await profile('bench-large', 'gzip');
    const gzipSmall = await profile('bench-small', 'gzip');
    const plainLarge = await profile('bench-large', 'none');
    const zstdLarge = await profile('bench-large', 'zstd');
    const huge = HUGE > 0 ? await apiFor('bench-huge') : undefined;
    const gzipHuge = huge ? await profile('bench-huge', 'gzip') : undefined;

    // The JSONL gzip -6 compresses: exactly the lines json:raw wrote, out of an uncompressed bundle.
    let worker = await WorkerProcess.start(h);
    const plain = await exportRun(large, worker, plainLarge);
    const dl = await large.download(plain.id);
    const tgz = join(dir, 'plain.tgz');
    const tgzOut = createWriteStream(tgz);
    for await (const chunk of dl.body) if (!tgzOut.write(chunk)) await once(tgzOut, 'drain');
    tgzOut.end();
    await once(tgzOut, 'finish');
    await runBaseline('tar', ['-xzmf', tgz, '-C', dir, 'data/advisory.jsonl']);
    const jsonl = join(dir, 'data/advisory.jsonl');
    const jsonlBytes = (await stat(jsonl)).size;
    args.log(
      `JSONL (from a json:raw compression:none run, ${round(plain.ms / 1000, 1)} s): ${N} records, ${round(jsonlBytes / 2 ** 20, 1)} MiB`,
    );

    // Paired A/B on one long-lived worker (as a server runs it), alternating which goes first.
    const ours: RunResult[] = [];
    const gzip: { ms: number; cpuMs: number; size: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const [a, b] = await alternate(
        i,
        () => exportRun(large, worker, gzipLarge),
        async () => {
          const out = join(dir, `gzip-${i}.gz`);
          const r = await runBaseline('sh', ['-c', 'gzip -6 -c "$0" > "$1"', jsonl, out]);
          const size = (await stat(out)).size;
          await rm(out);
          return { ms: r.ms, cpuMs: r.cpuMs, size };
        },
      );
      ours.push(a);
      gzip.push(b);
      loads.push(load());
      args.log(
        `pair ${i + 1}: json:raw ${round(a.ms, 0)} ms (worker cpu ${a.cpuMs} ms, ${a.events} events), gzip -6 ${round(b.ms, 0)} ms; load ${loads.at(-1)}`,
      );
    }
    // The same for zstd: json:raw zstd (level 3) beside `zstd -3` over the same JSONL.
    const oursZstd: RunResult[] = [];
    const zstdCli: { ms: number; cpuMs: number; size: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const [a, b] = await alternate(
        i,
        () => exportRun(large, worker, zstdLarge),
        async () => {
          const out = join(dir, `zstd-${i}.zst`);
          const r = await runBaseline('sh', ['-c', 'zstd -q -3 -c "$0" > "$1"', jsonl, out]);
          const size = (await stat(out)).size;
          await rm(out);
          return { ms: r.ms, cpuMs: r.cpuMs, size };
        },
      );
      oursZstd.push(a);
      zstdCli.push(b);
      loads.push(load());
      args.log(
        `zstd pair ${i + 1}: json:raw ${round(a.ms, 0)} ms (worker cpu ${a.cpuMs} ms), zstd -3 ${round(b.ms, 0)} ms (cpu ${round(b.cpuMs, 0)} ms); load ${loads.at(-1)}`,
      );
    }
    const peakAfterRuns = await worker.stop();
    if (new Set(oursZstd.map((r) => r.rerunHash)).size !== 1)
      throw new Error('two zstd runs over the same inputs differ');
    if (new Set(ours.map((r) => r.rerunHash)).size !== 1) throw new Error('two runs over the same inputs differ');

    // Peak RSS: a fresh worker process per run, the sizes in rotating order; bounded-heap thread
    // (the default, as `stella serve` runs it), then the old in-thread worker for comparison.
    type Size = 'small' | 'large' | 'huge';
    const sizes: Size[] = huge ? ['small', 'large', 'huge'] : ['small', 'large'];
    const targetOf = (which: Size) =>
      which === 'small'
        ? { api: small, profileId: gzipSmall }
        : which === 'large'
          ? { api: large, profileId: gzipLarge }
          : { api: huge!, profileId: gzipHuge! };
    const rss: Record<Size | 'idle', number[]> = { small: [], large: [], huge: [], idle: [] };
    const rssCpu: Record<Size, number[]> = { small: [], large: [], huge: [] };
    const uncapped: Record<Size | 'idle', number[]> = { small: [], large: [], huge: [], idle: [] };
    const uncappedCpu: Record<Size, number[]> = { small: [], large: [], huge: [] };
    const rssRound = async (env: Record<string, string>, into: typeof rss, cpu: typeof rssCpu, i: number) => {
      worker = await WorkerProcess.start(harness, [], env);
      into.idle.push(await worker.stop());
      const order = sizes.map((_, k) => sizes[(k + i) % sizes.length]!);
      for (const which of order) {
        worker = await WorkerProcess.start(harness, [], env);
        const t = targetOf(which);
        // A fresh token per run: the dev tokens minted at the start expire before a long bench ends.
        const api = await apiFor(which === 'small' ? 'bench-small' : which === 'large' ? 'bench-large' : 'bench-huge');
        const r = await exportRun(api, worker, t.profileId);
        cpu[which].push(r.cpuMs);
        into[which].push(await worker.stop());
        args.log(
          `peak RSS ${env.STELLA_EXPORT_WORKER_HEAP_MIB === '0' ? 'uncapped' : 'bounded'} ${which}: ${round(into[which].at(-1)!, 1)} MiB, worker cpu ${r.cpuMs} ms, ${round(r.ms / 1000, 1)} s; load ${load()}`,
        );
      }
      loads.push(load());
    };
    for (let i = 0; i < RSS_RUNS; i++) await rssRound({}, rss, rssCpu, i);
    for (let i = 0; i < UNCAPPED_RUNS; i++)
      await rssRound({ STELLA_EXPORT_WORKER_HEAP_MIB: '0' }, uncapped, uncappedCpu, i);

    // The proof that nothing accumulates per record: N records through a heap far below the data.
    let capped: { ok: boolean; peak: number; error?: string } | undefined;
    if (CAPPED_HEAP > 0) {
      worker = await WorkerProcess.start(h, [`--max-old-space-size=${CAPPED_HEAP}`]);
      try {
        await exportRun(large, worker, gzipLarge);
        capped = { ok: true, peak: await worker.stop() };
      } catch (err) {
        capped = { ok: false, peak: NaN, error: String(err) };
      }
    }

    const mo = median(ours.map((x) => x.ms));
    const mg = median(gzip.map((x) => x.ms));
    const rows = [
      {
        what: `json:raw gzip, end to end (POST run → final SSE event)`,
        'median ms': round(mo, 0),
        'min–max ms': minMax(ours.map((x) => x.ms)),
        'worker cpu ms': round(median(ours.map((x) => x.cpuMs)), 0),
        'records/s': round(N / (mo / 1000), 0),
        'MB/s of JSONL': round(jsonlBytes / 1e6 / (mo / 1000), 1),
        'out MiB': round(ours[0]!.size / 2 ** 20, 2),
      },
      {
        what: 'gzip -6 over the same JSONL (baseline)',
        'median ms': round(mg, 0),
        'min–max ms': minMax(gzip.map((x) => x.ms)),
        'worker cpu ms': round(median(gzip.map((x) => x.cpuMs)), 0),
        'records/s': round(N / (mg / 1000), 0),
        'MB/s of JSONL': round(jsonlBytes / 1e6 / (mg / 1000), 1),
        'out MiB': round(gzip[0]!.size / 2 ** 20, 2),
      },
    ];
    const mz = median(oursZstd.map((x) => x.ms));
    const mzc = median(zstdCli.map((x) => x.ms));
    rows.push(
      {
        what: 'json:raw zstd 3, end to end (POST run → final SSE event)',
        'median ms': round(mz, 0),
        'min–max ms': minMax(oursZstd.map((x) => x.ms)),
        'worker cpu ms': round(median(oursZstd.map((x) => x.cpuMs)), 0),
        'records/s': round(N / (mz / 1000), 0),
        'MB/s of JSONL': round(jsonlBytes / 1e6 / (mz / 1000), 1),
        'out MiB': round(oursZstd[0]!.size / 2 ** 20, 2),
      },
      {
        what: 'zstd -3 over the same JSONL (baseline)',
        'median ms': round(mzc, 0),
        'min–max ms': minMax(zstdCli.map((x) => x.ms)),
        'worker cpu ms': round(median(zstdCli.map((x) => x.cpuMs)), 0),
        'records/s': round(N / (mzc / 1000), 0),
        'MB/s of JSONL': round(jsonlBytes / 1e6 / (mzc / 1000), 1),
        'out MiB': round(zstdCli[0]!.size / 2 ** 20, 2),
      },
    );
    printTable(rows, args.log);
    args.log(
      `json:raw end to end / gzip -6: ${round(mo / mg, 2)}× wall, ${round(median(ours.map((x) => x.cpuMs)) / median(gzip.map((x) => x.cpuMs)), 2)}× CPU (median of ${RUNS} paired runs; the run's time includes the bundle (archive digest, DSSE), the object-store upload and the SSE delivery); the ${ours.length} runs' rerun hashes equal`,
    );
    const evs = ours.map((r) => r.events / (r.ms / 1000));
    const prog = ours.map((r) => r.progress / (r.ms / 1000));
    const lags = ours.flatMap((r) => r.lagMs).sort((a, b) => a - b);
    args.log(
      `SSE: ${median(ours.map((r) => r.events))} events per run (${median(ours.map((r) => r.progress))} progress); ${round(median(evs), 2)} events/s (min–max ${minMax(evs, 2)}), ${round(median(prog), 2)} progress events/s; creation → final event ${round(mo / 1000, 2)} s; event written → received: median ${round(median(lags), 0)} ms, max ${round(lags.at(-1)!, 0)} ms`,
    );
    const rssLine = (label: string, r: typeof rss, cpu: typeof rssCpu, n: number) =>
      `${label} (fresh per run, median of ${n}): idle ${round(median(r.idle), 1)} MiB; ` +
      sizes
        .map(
          (w) =>
            `${w === 'small' ? SMALL : w === 'large' ? N : HUGE} records ${round(median(r[w]), 1)} MiB (${minMax(r[w], 1)}; worker cpu ${round(median(cpu[w]), 0)} ms)`,
        )
        .join(', ');
    args.log(rssLine('peak RSS of the worker process, bounded-heap thread (default)', rss, rssCpu, RSS_RUNS));
    if (UNCAPPED_RUNS > 0)
      args.log(
        rssLine(
          'peak RSS, STELLA_EXPORT_WORKER_HEAP_MIB=0 (in-thread, uncapped)',
          uncapped,
          uncappedCpu,
          UNCAPPED_RUNS,
        ),
      );
    args.log(`after ${2 * RUNS + 1} runs of ${N} on one worker: ${round(peakAfterRuns, 1)} MiB`);
    if (capped)
      args.log(
        capped.ok
          ? `${N} records on a worker with --max-old-space-size=${CAPPED_HEAP}: succeeded, peak RSS ${round(capped.peak, 1)} MiB`
          : `${N} records on a worker with --max-old-space-size=${CAPPED_HEAP}: FAILED ${capped.error}`,
      );
    args.log(`load during the bench (1/5/15 min): ${loads.join(' | ')}`);
    if (args.json)
      process.stdout.write(
        `${JSON.stringify({
          records: N,
          small: SMALL,
          jsonlBytes,
          runs: RUNS,
          oursMs: ours.map((x) => round(x.ms, 1)),
          oursWorkerCpuMs: ours.map((x) => x.cpuMs),
          gzipMs: gzip.map((x) => round(x.ms, 1)),
          gzipCpuMs: gzip.map((x) => round(x.cpuMs, 1)),
          ratio: round(mo / mg, 3),
          outBytes: { ours: ours[0]!.size, gzip: gzip[0]!.size },
          sse: {
            events: ours.map((r) => r.events),
            progress: ours.map((r) => r.progress),
            eventsPerSec: evs.map((x) => round(x, 2)),
          },
          zstd: {
            oursMs: oursZstd.map((x) => round(x.ms, 1)),
            oursWorkerCpuMs: oursZstd.map((x) => x.cpuMs),
            cliMs: zstdCli.map((x) => round(x.ms, 1)),
            cliCpuMs: zstdCli.map((x) => round(x.cpuMs, 1)),
            outBytes: { ours: oursZstd[0]!.size, cli: zstdCli[0]!.size },
          },
          peakRssMiB: {
            idle: rss.idle,
            [SMALL]: rss.small,
            [N]: rss.large,
            ...(HUGE ? { [HUGE]: rss.huge } : {}),
            cpuMs: rssCpu,
            afterRuns: peakAfterRuns,
          },
          uncappedPeakRssMiB: {
            idle: uncapped.idle,
            [SMALL]: uncapped.small,
            [N]: uncapped.large,
            ...(HUGE ? { [HUGE]: uncapped.huge } : {}),
            cpuMs: uncappedCpu,
          },
          ...(capped ? { cappedHeap: { mib: CAPPED_HEAP, ...capped } } : {}),
          loads,
        })}\n`,
      );
  } finally {
    await h?.close();
    await target.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
// The SDK's keep-alive sockets may hold the loop open a while.
process.exit(0);
