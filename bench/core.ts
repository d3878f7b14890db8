/**
 * The core bench (issue #13): hashing + Merkle and the deterministic tar.gz writer, each as a WHOLE
 * PROCESS beside the strongest baselines over the same trees, in paired rotating rounds
 * (bench/lib/paired.ts), on random (incompressible) and realistic data (the JSON advisories, SBOMs
 * and VEX documents of ../shared/datasets repeated to size):
 *
 *   hashing  ours (bench/bin/hash-tree.mjs)  vs  openssl dgst -sha256, sha256sum
 *   tar.gz   ours (bench/bin/tar-gz.mjs)     vs  tar | pigz -6, tar | gzip -6, tar | zstd -3
 *
 *   npm run bench:core -- [--size 1GiB | --size-mib N] [--files 1000] [--rounds 5]
 *        [--tar-rounds 3] [--variant random|json|both] [--level 6] [--no-simple] [--json]
 *
 * Default size 1 GiB / 1,000 files (`--size 64MiB` for a quick check). The trees are generated once
 * under bench/.out/ and read into the page cache before timing. Our sides run the BUILT packages:
 * this script runs `tsc -b` first. `--no-simple` drops sha256sum / gzip / zstd (faster).
 * Aims (issue #13): hashing wall ≤ 0.7× openssl; tar.gz wall ≤ 1.0× pigz -6 on realistic data.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchArgs, sizeOption } from './lib/args.js';
import { machineLine, printTable } from './lib/measure.js';
import { merklePart, type MerklePartResult } from './lib/merkle-part.js';
import type { SideSummary } from './lib/paired.js';
import { tarPart, type TarPartResult } from './lib/tar-part.js';
import { benchTree, warmTree, type TreeVariant } from './lib/tree.js';

const a = benchArgs();
const bytes = sizeOption(a, 1024);
const files = a.num('files', 1000);
const variant = a.opt('variant', 'both');
if (!['random', 'json', 'both'].includes(variant)) {
  process.stderr.write('--variant must be random, json or both\n');
  process.exit(2);
}
const simple = !a.flag('no-simple');
const root = fileURLToPath(new URL('..', import.meta.url));
const built = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) process.exit(1);

a.log(machineLine());
a.log(
  `date ${new Date().toISOString()}; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
const results: (MerklePartResult | TarPartResult)[] = [];
for (const v of variant === 'both' ? (['random', 'json'] as const) : [variant as TreeVariant]) {
  const tree = await benchTree({ bytes, files, variant: v, log: a.log });
  await warmTree(tree);
  a.log(`data ${v}: ${tree.names.length} files, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${tree.dir}`);
  results.push(await merklePart(tree, { rounds: a.num('rounds', 5), log: a.log, simple }));
  results.push(await tarPart(tree, { rounds: a.num('tar-rounds', 3), level: a.num('level', 6), log: a.log, simple }));
}

const ratio = (s: SideSummary, k: 'wallRatio' | 'cpuRatio') =>
  s[k] ? `${s[k].median.toFixed(2)} (${s[k].min.toFixed(2)}–${s[k].max.toFixed(2)})` : '';
const mbps = (b: number, ms: number) => Math.round(b / 1e6 / (ms / 1000));
a.log('');
a.log('paired ratios ours / baseline: median (min–max) over the rounds; wall and CPU (user+sys) time');
printTable(
  results.flatMap((r) => {
    const input = r.part === 'tar' ? r.inputBytes : r.bytes;
    return r.sides.map((s) => ({
      part: `${r.part === 'merkle' ? 'SHA-256 + Merkle' : `tar.gz -${r.gzipLevel}`} ${r.variant}`,
      side: s.name,
      wall_ms: s.wallMs,
      MBps: mbps(input, s.wallMs),
      cpu_ms: s.cpuMs,
      wall_ratio: ratio(s, 'wallRatio'),
      cpu_ratio: ratio(s, 'cpuRatio'),
      peak_RSS_MiB: s.peakRssMiB,
      out_B: r.part === 'tar' ? (r.outBytes[s.name] ?? '') : '',
      load: `${r.loadBefore.toFixed(1)}→${r.loadAfter.toFixed(1)}`,
    }));
  }),
  a.log,
);
for (const r of results) {
  if (r.part === 'merkle')
    a.log(
      `${r.variant}: Merkle root ${r.merkleRoot} (same with 1 thread); our RSS idle ${r.idleRssMiB} MiB, peak while hashing ${r.hashingPeakRssMiB} MiB (+${(r.hashingPeakRssMiB - r.idleRssMiB).toFixed(1)} MiB)`,
    );
  else
    a.log(
      `${r.variant}: tar.gz deterministic across 1/default/4 threads: ${r.deterministic} (sha256 ${r.oursSha256.slice(0, 16)}… of the first 64 MiB)`,
    );
}
// The two aims of issue #13, as paired medians of this run (wall; CPU beside it, see the load).
for (const r of results) {
  const [name, limit] = r.part === 'merkle' ? ['openssl dgst -sha256', 0.7] : [`pigz -${r.gzipLevel}`, 1.0];
  const s = r.sides.find((x) => x.name === name);
  if (!s?.wallRatio || !s.cpuRatio) continue;
  a.log(
    `aim ${r.part === 'merkle' ? 'hash + Merkle' : 'tar.gz'} ${r.variant}: wall ours / ${name} = ${s.wallRatio.median.toFixed(2)} (aim ≤ ${limit.toFixed(1)}: ${s.wallRatio.median <= limit ? 'met' : 'not met'}), CPU ${s.cpuRatio.median.toFixed(2)}, load ${r.loadBefore.toFixed(1)}→${r.loadAfter.toFixed(1)}`,
  );
}
if (a.json)
  process.stdout.write(
    `${JSON.stringify({ bench: 'core', bytes, files, results: results.map(({ runs: _runs, ...rest }) => rest) })}\n`,
  );
