/**
 * The core bench in ONE run over ONE tree (issue #3 "bench/core" acceptance; DESIGN.md §5):
 *   1. Merkle + SHA-256 over the tree (default 1 GiB in 1,000 files) beside `sha256sum` over the
 *      same files (bench/lib/merkle-part.ts);
 *   2. the tar.gz writer beside `tar --sort=name -cf - | gzip` on the same tree
 *      (bench/lib/tar-part.ts);
 * with this process's peak RSS after each part and the baselines' peak RSS.
 *
 *   node --conditions=development --import tsx bench/core.ts [--size-mib 1024] [--files 1000]
 *        [--merkle-runs 3] [--tar-runs 2] [--level 6] [--json]
 *
 * `--size-mib 32` makes a quick run. The tree (random, incompressible bytes) is generated once
 * under bench/.out/tree and shared with core-merkle.ts and core-tar.ts.
 */
import { benchArgs, sizeOption } from './lib/args.js';
import { machineLine, peakRssMiB, printTable } from './lib/measure.js';
import { merklePart } from './lib/merkle-part.js';
import { tarPart } from './lib/tar-part.js';
import { benchTree } from './lib/tree.js';

const a = benchArgs();
const bytes = sizeOption(a, 1024);
const startRssMiB = peakRssMiB();
const tree = await benchTree({ bytes, files: a.num('files', 1000), variant: 'random', log: a.log });
a.log(machineLine());
a.log(`data: ${tree.names.length} files, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${tree.dir}`);
// merklePart warms the page cache with an untimed sha256sum pass; the tar part reads the same files.
const merkle = await merklePart(tree, { runs: a.num('merkle-runs', 3), log: a.log });
const tar = await tarPart(tree, { runs: a.num('tar-runs', 2), level: a.num('level', 6), log: a.log });
a.log('');
printTable(
  [
    {
      part: 'SHA-256 + Merkle',
      ours_MBps: merkle.oursMBps,
      baseline: 'sha256sum',
      baseline_MBps: merkle.sha256sumMBps,
      time_ratio: merkle.ratio,
      cpu_ratio: merkle.cpuRatio,
      ours_peak_RSS_MiB: merkle.peakRssMiB,
      baseline_peak_RSS_MiB: merkle.sha256sumPeakRssMiB,
    },
    {
      part: `tar.gz (level ${tar.gzipLevel})`,
      ours_MBps: tar.oursMBps,
      baseline: 'tar --sort=name | gzip',
      baseline_MBps: tar.baselineMBps,
      time_ratio: tar.timeRatio,
      cpu_ratio: Number((tar.oursCpuS / tar.baselineCpuS).toFixed(3)),
      ours_peak_RSS_MiB: tar.oursPeakRssMiB,
      baseline_peak_RSS_MiB: tar.baselinePeakRssMiB,
    },
  ],
  a.log,
);
a.log(`merkle-only ${merkle.merkleLeavesPerSec} leaves/s; merkle root ${merkle.merkleRoot}`);
a.log(
  `tar.gz out ${tar.oursOutBytes} B (baseline ${tar.baselineOutBytes} B), deterministic across runs: ${tar.deterministic}; node RSS before any work ${startRssMiB} MiB`,
);
if (a.json)
  process.stdout.write(
    `${JSON.stringify({ bench: 'core', files: tree.names.length, bytes, startRssMiB, merkle, tar })}\n`,
  );
