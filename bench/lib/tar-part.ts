/**
 * The tar part of the core bench: the deterministic tar.gz writer BESIDE GNU
 * `tar --sort=name -cf - | gzip -<level>` over the same tree in the same run (DESIGN.md §5).
 *
 *   baseline  sh -c 'tar --sort=name -cf - -C DIR . | gzip -N | wc -c'  (peak RSS: the pipeline's
 *             largest process, via GNU time)
 *   ours      createTarGz(entries with fs.createReadStream bodies, 1 MiB chunks) → byte counter
 *             + SHA-256 of the output, so every run also checks the output is byte-identical.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createTarGz, type TarEntryInput } from '@stella/core/tar';
import { alternate, mbps, peakRssMiB, round, runBaseline, timed } from './measure.js';
import type { BenchTree } from './tree.js';

export interface TarPartResult {
  part: 'tar';
  variant: BenchTree['variant'];
  files: number;
  inputBytes: number;
  gzipLevel: number;
  runs: number;
  baselineMBps: number;
  oursMBps: number;
  /** Best-of-runs wall time, ours / baseline. */
  timeRatio: number;
  /** CPU seconds are far less sensitive than wall time to other load on the machine. */
  baselineCpuS: number;
  oursCpuS: number;
  baselineOutBytes: number;
  oursOutBytes: number;
  sizeRatio: number;
  /** Our output had the same SHA-256 on every run. */
  deterministic: boolean;
  oursSha256: string;
  baselinePeakRssMiB: number;
  /** Peak RSS of this node process so far (process-wide, so it includes earlier parts). */
  oursPeakRssMiB: number;
}

function baseline(tree: BenchTree, level: number) {
  const script = `tar --sort=name -cf - -C "$1" --exclude=./.complete . | gzip -${level} | wc -c`;
  return runBaseline('sh', ['-c', script, 'sh', tree.dir]).then((r) => ({
    ...r,
    outBytes: Number(r.stdout.toString().trim()),
  }));
}

function ours(tree: BenchTree, level: number) {
  return timed(async () => {
    const entries: TarEntryInput[] = tree.names.map((name, i) => ({
      path: name,
      size: tree.sizes[i]!,
      body: () => createReadStream(join(tree.dir, name), { highWaterMark: 1 << 20 }),
    }));
    const h = createHash('sha256');
    let bytes = 0;
    for await (const chunk of createTarGz(entries, { gzipLevel: level })) {
      bytes += (chunk as Buffer).length;
      h.update(chunk as Buffer);
    }
    return { outBytes: bytes, sha256: h.digest('hex') };
  });
}

/** Runs the tar part `runs` times over a warmed tree. */
export async function tarPart(
  tree: BenchTree,
  o: { runs: number; level: number; log: (line: string) => void },
): Promise<TarPartResult> {
  const base: Awaited<ReturnType<typeof baseline>>[] = [];
  const mine: Awaited<ReturnType<typeof ours>>[] = [];
  for (let r = 0; r < o.runs; r++) {
    const [b, m] = await alternate(
      r,
      () => baseline(tree, o.level),
      () => ours(tree, o.level),
    );
    base.push(b);
    mine.push(m);
    o.log(
      `tar ${tree.variant} run ${r + 1}: tar|gzip ${b.ms.toFixed(0)} ms → ${b.outBytes} B; ours ${m.ms.toFixed(0)} ms → ${m.value.outBytes} B`,
    );
  }
  const bestBase = Math.min(...base.map((b) => b.ms));
  const bestOurs = Math.min(...mine.map((m) => m.ms));
  return {
    part: 'tar',
    variant: tree.variant,
    files: tree.names.length,
    inputBytes: tree.bytes,
    gzipLevel: o.level,
    runs: o.runs,
    baselineMBps: round(mbps(tree.bytes, bestBase), 1),
    oursMBps: round(mbps(tree.bytes, bestOurs), 1),
    timeRatio: round(bestOurs / bestBase, 3),
    baselineCpuS: round(Math.min(...base.map((b) => b.cpuMs)) / 1000, 1),
    oursCpuS: round(Math.min(...mine.map((m) => m.cpuMs)) / 1000, 1),
    baselineOutBytes: base[0]!.outBytes,
    oursOutBytes: mine[0]!.value.outBytes,
    sizeRatio: round(mine[0]!.value.outBytes / base[0]!.outBytes, 4),
    deterministic: mine.every((m) => m.value.sha256 === mine[0]!.value.sha256),
    oursSha256: mine[0]!.value.sha256,
    baselinePeakRssMiB: round(Math.max(...base.map((b) => b.peakRssMiB)), 1),
    oursPeakRssMiB: peakRssMiB(),
  };
}
