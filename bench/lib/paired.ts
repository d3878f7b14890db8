/**
 * Paired whole-process runs (issue #13 item 3): every side is a command run to completion under
 * GNU time, all sides run once per round, the order rotates from round to round (A B C, B C A, …)
 * so no side always runs first or on a warmer machine, and each baseline is compared through the
 * ratio ours / baseline WITHIN each round — the median of those paired ratios, with min and max,
 * is what we report. Wall-clock ratios move with other load on the machine; CPU time (user + sys of
 * every process of the command) much less, so both are kept, with the load average around the runs.
 */
import { loadavg } from 'node:os';
import { median, round, runBaseline, type ToolRun } from './measure.js';

/** One side of a comparison: a shell command (run with `sh -c`), and a check of its output. */
export interface Side {
  name: string;
  /** Shell command line; `$1`… are `args`. */
  script: string;
  args?: string[];
  cwd?: string;
  /** Throws when the run's output is wrong (digests differ, …). */
  check?: (run: ToolRun) => void;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface SideSummary {
  name: string;
  /** Median wall ms / CPU ms over the rounds. */
  wallMs: number;
  cpuMs: number;
  /** Largest peak RSS of the command's biggest process over the rounds (GNU time %M). */
  peakRssMiB: number;
  /** Paired ratios ours / this side (absent for ours). */
  wallRatio?: Spread;
  cpuRatio?: Spread;
}

export interface PairedResult {
  rounds: number;
  /** 1-minute load average before the first and after the last round. */
  loadBefore: number;
  loadAfter: number;
  sides: SideSummary[];
  /** Raw runs, per side name. */
  runs: Record<string, ToolRun[]>;
}

const spread = (xs: number[]): Spread => ({
  median: round(median(xs), 3),
  min: round(Math.min(...xs), 3),
  max: round(Math.max(...xs), 3),
});

/** Runs `ours` and `baselines` for `rounds` rotating rounds; ratios are ours / baseline per round. */
export async function pairedRuns(
  ours: Side,
  baselines: readonly Side[],
  rounds: number,
  log: (line: string) => void,
): Promise<PairedResult> {
  const sides = [ours, ...baselines];
  const runs: Record<string, ToolRun[]> = Object.fromEntries(sides.map((s) => [s.name, []]));
  const loadBefore = loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    const line: string[] = [];
    for (const s of order) {
      const run = await runBaseline('sh', ['-c', s.script, 'sh', ...(s.args ?? [])], { cwd: s.cwd });
      s.check?.(run);
      runs[s.name]!.push(run);
      line.push(`${s.name} ${run.ms.toFixed(0)} ms / CPU ${run.cpuMs.toFixed(0)} ms`);
    }
    log(`  round ${r + 1}: ${line.join(';  ')}  (load ${loadavg()[0]!.toFixed(1)})`);
  }
  const mine = runs[ours.name]!;
  return {
    rounds,
    loadBefore: round(loadBefore, 2),
    loadAfter: round(loadavg()[0]!, 2),
    runs,
    sides: sides.map((s) => {
      const rs = runs[s.name]!;
      const summary: SideSummary = {
        name: s.name,
        wallMs: round(median(rs.map((x) => x.ms)), 0),
        cpuMs: round(median(rs.map((x) => x.cpuMs)), 0),
        peakRssMiB: round(Math.max(...rs.map((x) => x.peakRssMiB)), 1),
      };
      if (s !== ours) {
        summary.wallRatio = spread(rs.map((b, i) => mine[i]!.ms / b.ms));
        summary.cpuRatio = spread(rs.map((b, i) => mine[i]!.cpuMs / b.cpuMs));
      }
      return summary;
    }),
  };
}
