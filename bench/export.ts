/**
 * Export Center adapters: `json:raw` with gzip over N advisories synthesised from the OSV dataset
 * shapes (an AsyncIterable of SourceRecords, as the ledger yields them — no database), BESIDE GNU
 * `gzip -6` over the same JSONL in the same run, paired and alternated, medians reported; then the
 * peak RSS of a whole json:raw export at a small and a large record count, each in its own process,
 * to show that memory stays flat (issue #10 acceptance "bench/export"; DESIGN.md §5).
 *
 *   node --conditions=development --import tsx bench/export.ts [--records 100000] [--small 10000]
 *        [--runs 5] [--json]
 *
 * `--rss-child N` is the internal mode for one measured process: export N records, print peak RSS.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { createStagingSink, getAdapter } from '@stella/export-center';
import { osvTemplates, synthesiseAdvisories } from '@stella/export-center/testing';
import { datasetsDir } from '@stella/testkit';
import { benchArgs } from './lib/args.js';
import { alternate, machineLine, median, printTable, round, runBaseline, timed } from './lib/measure.js';

const args = benchArgs();
const N = args.num('records', 100_000);
const SMALL = args.num('small', 10_000);
const RUNS = args.num('runs', 5);
const RSS_CHILD = args.num('rss-child', 0);

/** One json:raw export of `count` synthesised advisories into a staging area under `parent`. */
async function exportRaw(templates: unknown[], count: number, parent: string, compression: 'gzip' | 'none') {
  const adapter = getAdapter('json:raw');
  const v = adapter.validateOptions({ compression });
  if (!v.ok) throw new Error(JSON.stringify(v.problems));
  const staging = await createStagingSink(parent);
  const result = await adapter.write({
    records: synthesiseAdvisories(templates, count),
    options: v.options,
    out: staging,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime: null,
  });
  return { staging, result, file: staging.files()[0]! };
}

async function rssChild(): Promise<void> {
  const templates = await osvTemplates(datasetsDir);
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-export-rss-'));
  try {
    const { staging } = await exportRaw(templates, RSS_CHILD, dir, 'gzip');
    await staging.dispose();
    process.stdout.write(
      `${JSON.stringify({ records: RSS_CHILD, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Peak RSS of a fresh process exporting `count` records. */
function measureRss(count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=development', '--import', 'tsx', fileURLToPath(import.meta.url), '--rss-child', String(count)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`rss child exited ${code}`));
      resolve((JSON.parse(Buffer.concat(out).toString()) as { maxRssMiB: number }).maxRssMiB);
    });
  });
}

async function main(): Promise<void> {
  if (RSS_CHILD > 0) return rssChild();
  args.log(machineLine());
  args.log(`records ${N}, small ${SMALL}, runs ${RUNS}`);
  const templates = await osvTemplates(datasetsDir);
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-export-'));
  try {
    // The JSONL gzip -6 compresses: exactly the lines json:raw writes (its uncompressed output).
    const plain = await exportRaw(templates, N, join(dir, 'plain'), 'none');
    const jsonl = join(plain.staging.dir, plain.file.path);
    const jsonlBytes = (await stat(jsonl)).size;
    args.log(`JSONL: ${plain.result.counts.records} records, ${round(jsonlBytes / 2 ** 20, 1)} MiB`);

    const ours: { ms: number; cpuMs: number; size: number }[] = [];
    const gzip: { ms: number; cpuMs: number; size: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const [a, b] = await alternate(
        i,
        async () => {
          const t = await timed(() => exportRaw(templates, N, join(dir, `run-${i}`), 'gzip'));
          const size = t.value.file.size;
          await t.value.staging.dispose();
          return { ms: t.ms, cpuMs: t.cpuMs, size };
        },
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
    }
    await plain.staging.dispose();

    // What the canonicalisation alone costs (no compression, no disk): where the time goes.
    const canon = await timed(async () => {
      let bytes = 0;
      for await (const r of synthesiseAdvisories(templates, N)) bytes += canonicalJcsBytes(r.document).byteLength;
      return bytes;
    });

    const mo = median(ours.map((x) => x.ms));
    const mg = median(gzip.map((x) => x.ms));
    const rows = [
      {
        what: 'json:raw gzip (synthesis + RFC 8785 + gzip 6 + write)',
        'median ms': round(mo, 0),
        'cpu ms': round(median(ours.map((x) => x.cpuMs)), 0),
        'records/s': round(N / (mo / 1000), 0),
        'MB/s of JSONL': round(jsonlBytes / 1e6 / (mo / 1000), 1),
        'out MiB': round(ours[0]!.size / 2 ** 20, 2),
      },
      {
        what: 'gzip -6 over the same JSONL (baseline)',
        'median ms': round(mg, 0),
        'cpu ms': round(median(gzip.map((x) => x.cpuMs)), 0),
        'records/s': round(N / (mg / 1000), 0),
        'MB/s of JSONL': round(jsonlBytes / 1e6 / (mg / 1000), 1),
        'out MiB': round(gzip[0]!.size / 2 ** 20, 2),
      },
    ];
    printTable(rows, args.log);
    args.log(`json:raw / gzip -6 time: ${round(mo / mg, 2)}× (median of ${RUNS} paired runs)`);
    args.log(`synthesis + RFC 8785 of the documents alone: ${round(canon.ms, 0)} ms`);

    const rssSmall = await measureRss(SMALL);
    const rssLarge = await measureRss(N);
    args.log(
      `peak RSS of a json:raw gzip export: ${SMALL} records ${round(rssSmall, 1)} MiB, ${N} records ${round(rssLarge, 1)} MiB`,
    );
    if (args.json)
      process.stdout.write(
        `${JSON.stringify({
          records: N,
          jsonlBytes,
          runs: RUNS,
          oursMs: ours.map((x) => round(x.ms, 1)),
          gzipMs: gzip.map((x) => round(x.ms, 1)),
          ratio: round(mo / mg, 3),
          outBytes: { ours: ours[0]!.size, gzip: gzip[0]!.size },
          canonicalMs: round(canon.ms, 1),
          peakRssMiB: { [SMALL]: round(rssSmall, 1), [N]: round(rssLarge, 1) },
        })}\n`,
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
