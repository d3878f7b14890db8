/**
 * The Merkle part of the core bench: streaming SHA-256 per file + an RFC 9162 Merkle root over the
 * per-file entries, BESIDE `sha256sum` over the same files in the same run (DESIGN.md §5).
 *
 *   baseline  `sha256sum <every file>` (GNU coreutils, one process, sequential)
 *   ours      for each file in order: fs.createReadStream (1 MiB chunks) → digestStream()
 *             → leaf = RFC 8785 bytes of {path, size, digest} → MerkleTreeBuilder
 *             (exactly the evidence-bundle leaf rule of DESIGN.md §4), then root()
 * Our digests are cross-checked against sha256sum's on every run. A Merkle-only rate (1,000,000
 * leaf hashes → root, no I/O) shows the tree itself is not the bottleneck.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { digestStream } from '@stella/core/digest';
import { MerkleTreeBuilder } from '@stella/core/merkle';
import { alternate, mbps, median, peakRssMiB, round, runBaseline, timed } from './measure.js';
import type { BenchTree } from './tree.js';

export interface MerklePartResult {
  part: 'merkle';
  files: number;
  bytes: number;
  runs: number;
  sha256sumMBps: number;
  oursMBps: number;
  /** Best-of-runs wall time, ours / sha256sum. */
  ratio: number;
  medianRatio: number;
  sha256sumCpuMBps: number;
  oursCpuMBps: number;
  cpuRatio: number;
  merkleLeavesPerSec: number;
  /** Peak RSS of this node process after the hashing runs (before the Merkle-only section). */
  peakRssMiB: number;
  sha256sumPeakRssMiB: number;
  merkleRoot: string;
}

function sha256sum(tree: BenchTree) {
  return runBaseline('sha256sum', tree.names, { cwd: tree.dir }).then((r) => ({
    ...r,
    digests: r.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.slice(0, 64)),
  }));
}

function ours(tree: BenchTree) {
  return timed(async () => {
    const builder = new MerkleTreeBuilder();
    const digests: string[] = [];
    for (const name of tree.names) {
      const d = await digestStream(createReadStream(join(tree.dir, name), { highWaterMark: 1 << 20 }));
      digests.push(d.hex);
      builder.pushData(canonicalJcsBytes({ path: name, size: d.size, digest: d.digest }));
    }
    return { digests, root: Buffer.from(builder.root()).toString('hex') };
  });
}

/** Runs the Merkle part `runs` times over a warmed tree (one untimed sha256sum pass warms it). */
export async function merklePart(
  tree: BenchTree,
  o: { runs: number; log: (line: string) => void },
): Promise<MerklePartResult> {
  await sha256sum(tree);
  const base: Awaited<ReturnType<typeof sha256sum>>[] = [];
  const mine: Awaited<ReturnType<typeof ours>>[] = [];
  for (let r = 0; r < o.runs; r++) {
    const [b, m] = await alternate(
      r,
      () => sha256sum(tree),
      () => ours(tree),
    );
    if (b.digests.join() !== m.value.digests.join()) throw new Error('our digests differ from sha256sum');
    base.push(b);
    mine.push(m);
    o.log(
      `merkle run ${r + 1}: sha256sum ${b.ms.toFixed(0)} ms wall / ${b.cpuMs.toFixed(0)} ms CPU   ours ${m.ms.toFixed(0)} ms wall / ${m.cpuMs.toFixed(0)} ms CPU`,
    );
  }
  const hashingPeakRss = peakRssMiB();
  // Merkle-only: 1,000,000 leaf hashes (cycled from 1,024; no file I/O) → root. O(1) amortised
  // node hashes per leaf, O(log n) state.
  const LEAVES = 1_000_000;
  const pool = Array.from(
    { length: 1024 },
    (_, i) => new Uint8Array(createHash('sha256').update(`leaf ${i}`).digest()),
  );
  const only = await timed(async () => {
    const big = new MerkleTreeBuilder();
    for (let i = 0; i < LEAVES; i++) big.push(pool[i % 1024]!);
    return big.root();
  });
  o.log(`merkle-only: ${LEAVES.toLocaleString('en')} leaf hashes → root in ${only.ms.toFixed(0)} ms`);
  const best = (xs: { ms: number }[]) => Math.min(...xs.map((x) => x.ms));
  const bestCpu = (xs: { cpuMs: number }[]) => Math.min(...xs.map((x) => x.cpuMs));
  return {
    part: 'merkle',
    files: tree.names.length,
    bytes: tree.bytes,
    runs: o.runs,
    sha256sumMBps: round(mbps(tree.bytes, best(base)), 1),
    oursMBps: round(mbps(tree.bytes, best(mine)), 1),
    ratio: round(best(mine) / best(base), 3),
    medianRatio: round(median(mine.map((m) => m.ms)) / median(base.map((b) => b.ms)), 3),
    sha256sumCpuMBps: round(mbps(tree.bytes, bestCpu(base)), 1),
    oursCpuMBps: round(mbps(tree.bytes, bestCpu(mine)), 1),
    cpuRatio: round(bestCpu(mine) / bestCpu(base), 3),
    merkleLeavesPerSec: Math.round((LEAVES / only.ms) * 1000),
    peakRssMiB: hashingPeakRss,
    sha256sumPeakRssMiB: round(Math.max(...base.map((b) => b.peakRssMiB)), 1),
    merkleRoot: mine[mine.length - 1]!.value.root,
  };
}
