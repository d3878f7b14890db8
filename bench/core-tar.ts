/**
 * The tar.gz part of the core bench alone (bench/lib/tar-part.ts; `bench/core.ts` runs both).
 *
 *   npm run bench:core-tar -- [--size 1GiB] [--files 1000] [--rounds 3] [--variant random|json|text]
 *        [--level 6] [--no-simple] [--json]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchArgs, sizeOption } from './lib/args.js';
import { machineLine, printTable } from './lib/measure.js';
import { tarPart } from './lib/tar-part.js';
import { benchTree, warmTree, type TreeVariant } from './lib/tree.js';

const a = benchArgs();
const bytes = sizeOption(a, 1024);
if (
  spawnSync('npx', ['tsc', '-b'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit' }).status !== 0
)
  process.exit(1);
const tree = await benchTree({
  bytes,
  files: a.num('files', 1000),
  variant: a.opt('variant', 'json') as TreeVariant,
  log: a.log,
});
await warmTree(tree);
a.log(machineLine());
const r = await tarPart(tree, {
  rounds: a.num('rounds', 3),
  level: a.num('level', 6),
  log: a.log,
  simple: !a.flag('no-simple'),
});
printTable(
  r.sides.map((s) => ({
    side: s.name,
    wall_ms: s.wallMs,
    cpu_ms: s.cpuMs,
    wall_ratio: s.wallRatio ? `${s.wallRatio.median} (${s.wallRatio.min}–${s.wallRatio.max})` : '',
    cpu_ratio: s.cpuRatio ? `${s.cpuRatio.median} (${s.cpuRatio.min}–${s.cpuRatio.max})` : '',
    peak_RSS_MiB: s.peakRssMiB,
    out_B: r.outBytes[s.name] ?? '',
  })),
  a.log,
);
a.log(`deterministic across threads: ${r.deterministic}; load ${r.loadBefore}→${r.loadAfter}`);
if (a.json) {
  const { runs: _runs, ...rest } = r;
  process.stdout.write(`${JSON.stringify({ bench: 'core-tar', ...rest })}\n`);
}
