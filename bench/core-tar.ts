/**
 * Deterministic tar.gz writer throughput BESIDE GNU `tar --sort=name -cf - DIR | gzip -6` over the
 * same tree in the same run (issue #3 item 6 "bench/core"; DESIGN.md §5). What is timed and how:
 * bench/lib/tar-part.ts. `bench/core.ts` runs this and the Merkle part in one run over the same tree.
 *
 *   node --conditions=development --import tsx bench/core-tar.ts [--size-mib 1024] [--files 1000]
 *        [--runs 2] [--variant random|text|both] [--level 6] [--json]
 *
 * Data: the shared deterministic trees of bench/lib/tree.ts — random (incompressible,
 * bench/.out/tree, the same tree core-merkle reads) and text (compresses ~5×, bench/.out/tree-text).
 * Reported per variant: best-of-runs MB/s (input bytes / wall time), CPU seconds, output sizes and
 * ratio, peak RSS of our process and of the baseline pipeline's largest process, and whether our
 * output was byte-identical across runs.
 */
import { benchArgs, sizeOption } from './lib/args.js';
import { machineLine, peakRssMiB } from './lib/measure.js';
import { tarPart } from './lib/tar-part.js';
import { benchTree, warmTree, type TreeVariant } from './lib/tree.js';

const a = benchArgs();
const bytes = sizeOption(a, 1024);
const variant = a.opt('variant', 'both');
if (!['random', 'text', 'both'].includes(variant)) {
  process.stderr.write('--variant must be random, text or both\n');
  process.exit(2);
}
// RSS before any archive work (node + tsx + modules), to separate the writer's own footprint.
const startRssMiB = peakRssMiB();
a.log(machineLine());
const results = [];
for (const v of variant === 'both' ? (['random', 'text'] as const) : [variant as TreeVariant]) {
  const tree = await benchTree({ bytes, files: a.num('files', 1000), variant: v, log: a.log });
  await warmTree(tree);
  const r = await tarPart(tree, { runs: a.num('runs', 2), level: a.num('level', 6), log: a.log });
  results.push({ bench: 'core-tar', ...r, oursStartRssMiB: startRssMiB });
  a.log(
    `${v}: tar|gzip ${r.baselineMBps} MB/s, ours ${r.oursMBps} MB/s (time ratio ${r.timeRatio}×); CPU s tar|gzip ${r.baselineCpuS}, ours ${r.oursCpuS}; ` +
      `out ${r.baselineOutBytes} vs ${r.oursOutBytes} B; deterministic ${r.deterministic}; peak RSS baseline ${r.baselinePeakRssMiB} MiB, ours ${r.oursPeakRssMiB} MiB (${startRssMiB} MiB before any work)`,
  );
}
if (a.json) process.stdout.write(`${JSON.stringify(results)}\n`);
