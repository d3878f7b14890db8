/**
 * Core hashing throughput: streaming SHA-256 per file + an RFC 9162 Merkle root over the per-file
 * entries, BESIDE `sha256sum` over the same files in the same run (issue #3 item 10; DESIGN.md §5).
 * What is timed and how: bench/lib/merkle-part.ts. `bench/core.ts` runs this and the tar part in
 * one run over the same tree.
 *
 *   node --conditions=development --import tsx bench/core-merkle.ts [--size-mib 1024 | --size 1GiB]
 *        [--files 1000] [--runs 3] [--json]
 *
 * Data: the shared deterministic tree of bench/lib/tree.ts (random variant, bench/.out/tree).
 * Reported: best-of-runs MB/s by wall time AND by CPU time (user+sys) with ratios ours/baseline,
 * peak RSS of this process and of sha256sum, a Merkle-only rate, and the Merkle root.
 */
import { benchArgs, sizeOption } from './lib/args.js';
import { machineLine } from './lib/measure.js';
import { merklePart } from './lib/merkle-part.js';
import { benchTree } from './lib/tree.js';

const a = benchArgs();
const bytes = sizeOption(a, 1024);
const tree = await benchTree({ bytes, files: a.num('files', 1000), variant: 'random', log: a.log });
a.log(machineLine());
a.log(`data: ${tree.names.length} files, ${(bytes / 2 ** 20).toFixed(0)} MiB; warming page cache …`);
const r = await merklePart(tree, { runs: a.num('runs', 3), log: a.log });
a.log(
  `wall: sha256sum ${r.sha256sumMBps} MB/s, ours (SHA-256 + Merkle) ${r.oursMBps} MB/s, ratio ours/sha256sum ${r.ratio}× (median ${r.medianRatio}×)`,
);
a.log(
  `CPU:  sha256sum ${r.sha256sumCpuMBps} MB/s, ours ${r.oursCpuMBps} MB/s, ratio ${r.cpuRatio}×   peak RSS: ours (whole node process) ${r.peakRssMiB} MiB, sha256sum ${r.sha256sumPeakRssMiB} MiB`,
);
a.log(`merkle-only: ${r.merkleLeavesPerSec} leaves/s   merkle root: ${r.merkleRoot}`);
if (a.json) process.stdout.write(`${JSON.stringify({ bench: 'core-merkle', ...r })}\n`);
