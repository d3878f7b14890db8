/**
 * Core hashing throughput: streaming SHA-256 per file + an RFC 9162 Merkle root over the per-file
 * entries, BESIDE `sha256sum` over the same files in the same run (issue #3 item 10; DESIGN.md §5).
 *
 *   node --conditions=development --import tsx bench/core-merkle.ts [--size 1GiB] [--files 1000]
 *        [--runs 3] [--json]
 *
 * Data: `--files` files of deterministic pseudo-random bytes (AES-256-CTR keystream under a fixed
 * key, so every machine gets the same bytes) totalling `--size`, generated once and cached under
 * bench/.out/core-merkle/ (gitignored). Before timing, one untimed `sha256sum` pass warms the
 * page cache so both sides read from memory. Each run times, in alternating order:
 *   baseline  `sha256sum f0000 … f0999` (GNU coreutils, one process, sequential)
 *   ours      for each file in order: fs.createReadStream (1 MiB chunks) → digestStream()
 *             → leaf = RFC 8785 bytes of {path, size, digest} → MerkleTreeBuilder.push(leafHash)
 *             (exactly the evidence-bundle leaf rule of DESIGN.md §4), then root()
 * Reported: best-of-runs MB/s by wall time AND by CPU time (user+sys; sha256sum's via GNU time or
 * bash `time`) with ratios ours/baseline — CPU time is the fair measure on a shared, loaded machine —
 * peak RSS of this process (process.resourceUsage().maxRSS) and of sha256sum (GNU time %M), and a
 * Merkle-only rate (1,000,000 leaf hashes → root). Our digests are cross-checked against sha256sum's.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { digestStream } from '@stella/core/digest';
import { MerkleTreeBuilder } from '@stella/core/merkle';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(s);
  if (!m) throw new Error(`bad --size ${s} (e.g. 1GiB, 64MiB)`);
  const mult = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(m[2] ?? 'B').toLowerCase() as 'b'];
  return Math.round(Number(m[1]) * mult);
}
const SIZE = parseSize(opt('size', '1GiB'));
const FILES = Number(opt('files', '1000'));
const RUNS = Number(opt('runs', '3'));
const JSON_OUT = args.includes('--json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(`${s}\n`);

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'bench/.out/core-merkle', `${SIZE}-${FILES}`);
const names = Array.from({ length: FILES }, (_, i) => `f${String(i).padStart(4, '0')}.bin`);
// Sizes vary ±50% around the mean (deterministically) so files are not all alike; they sum to SIZE.
const sizes = (() => {
  const w = names.map((_, i) => 0.5 + ((i * 7919) % 1000) / 1000);
  const total = w.reduce((a, b) => a + b, 0);
  const s = w.map((x) => Math.floor((x / total) * SIZE));
  s[s.length - 1]! += SIZE - s.reduce((a, b) => a + b, 0);
  return s;
})();

async function generate(): Promise<void> {
  const marker = join(dir, '.complete');
  if (existsSync(marker) && (await readFile(marker, 'utf8')) === JSON.stringify(sizes)) return;
  log(`generating ${FILES} files, ${(SIZE / 2 ** 20).toFixed(0)} MiB under ${dir} (cached for later runs) …`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const key = createHash('sha256').update('stella-bench-core-merkle').digest();
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < FILES; i++) {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(i, 0);
    const c = createCipheriv('aes-256-ctr', key, iv);
    const fh = await open(join(dir, names[i]!), 'w');
    let left = sizes[i]!;
    while (left > 0) {
      const n = Math.min(left, zeros.length);
      await fh.write(c.update(zeros.subarray(0, n)));
      left -= n;
    }
    await fh.close();
  }
  await writeFile(marker, JSON.stringify(sizes));
}

interface Timing {
  /** Wall-clock milliseconds. */
  ms: number;
  /** CPU milliseconds (user + system) — the fair measure on a shared, loaded machine. */
  cpuMs: number;
  digests: string[];
}

/**
 * `sha256sum` with its CPU time (user + sys) and peak RSS from GNU time (`/usr/bin/time -f`), or
 * from bash's `time` builtin (CPU only) where GNU time is not installed.
 */
const GNU_TIME = existsSync('/usr/bin/time');
function sha256sum(): Promise<Timing & { rssMiB: number }> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = GNU_TIME
      ? spawn('/usr/bin/time', ['-f', '%U %S %M', 'sha256sum', ...names], {
          cwd: dir,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn('bash', ['-c', 'TIMEFORMAT="%U %S"; time sha256sum "$@"', 'bash', ...names], {
          cwd: dir,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) return rej(new Error(`sha256sum exited ${code}: ${Buffer.concat(err).toString()}`));
      const [u, s, kb] = Buffer.concat(err).toString().trim().split('\n').pop()!.split(/\s+/).map(Number);
      res({
        ms,
        cpuMs: ((u ?? NaN) + (s ?? NaN)) * 1000,
        rssMiB: (kb ?? NaN) / 1024,
        digests: Buffer.concat(out)
          .toString()
          .trim()
          .split('\n')
          .map((l) => l.slice(0, 64)),
      });
    });
  });
}

async function ours(): Promise<Timing & { root: string }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const tree = new MerkleTreeBuilder();
  const digests: string[] = [];
  for (const name of names) {
    const d = await digestStream(createReadStream(join(dir, name), { highWaterMark: 1 << 20 }));
    digests.push(d.hex);
    tree.pushData(canonicalJcsBytes({ path: name, size: d.size, digest: d.digest }));
  }
  const root = Buffer.from(tree.root()).toString('hex');
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, digests, root };
}

await generate();
log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}`,
);
log(`data: ${FILES} files, ${(SIZE / 2 ** 20).toFixed(0)} MiB; warming page cache …`);
await sha256sum();
let baseRss = 0;
const base: number[] = [];
const mine: number[] = [];
const baseCpu: number[] = [];
const mineCpu: number[] = [];
let rootHex = '';
for (let r = 0; r < RUNS; r++) {
  // Alternate the order so neither side always runs on a cooler or warmer cache/CPU.
  const pair = r % 2 === 0 ? [await sha256sum(), await ours()] : [await ours(), await sha256sum()].reverse();
  const [b, o] = pair as [Awaited<ReturnType<typeof sha256sum>>, Awaited<ReturnType<typeof ours>>];
  if (b.digests.join() !== o.digests.join()) throw new Error('our digests differ from sha256sum');
  base.push(b.ms);
  mine.push(o.ms);
  baseRss = Math.max(baseRss, b.rssMiB);
  baseCpu.push(b.cpuMs);
  mineCpu.push(o.cpuMs);
  rootHex = o.root;
  log(
    `run ${r + 1}: sha256sum ${b.ms.toFixed(0)} ms wall / ${b.cpuMs.toFixed(0)} ms CPU   ours ${o.ms.toFixed(0)} ms wall / ${o.cpuMs.toFixed(0)} ms CPU`,
  );
}
// Merkle-only: tree building over 1,000,000 leaf hashes (cycled from 1,024; no file I/O), to show the
// tree itself is not the bottleneck: O(1) amortised node hashes per leaf, O(log n) state.
// Peak RSS of the hashing runs is taken before this section allocates anything.
const peakRssMiB = Number((process.resourceUsage().maxRSS / 1024).toFixed(1));
const LEAVES = 1_000_000;
const pool = Array.from({ length: 1024 }, (_, i) => new Uint8Array(createHash('sha256').update(`leaf ${i}`).digest()));
const m0 = performance.now();
const big = new MerkleTreeBuilder();
for (let i = 0; i < LEAVES; i++) big.push(pool[i % 1024]!);
big.root();
const merkleMs = performance.now() - m0;
log(
  `merkle-only: ${LEAVES.toLocaleString('en')} leaf hashes → root in ${merkleMs.toFixed(0)} ms (${((LEAVES / merkleMs) * 1000).toFixed(0)} leaves/s)`,
);

const mbps = (ms: number) => SIZE / 1e6 / (ms / 1000);
const bestBase = Math.min(...base);
const bestOurs = Math.min(...mine);
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const result = {
  bench: 'core-merkle',
  files: FILES,
  bytes: SIZE,
  runs: RUNS,
  sha256sumMBps: Number(mbps(bestBase).toFixed(1)),
  oursMBps: Number(mbps(bestOurs).toFixed(1)),
  ratio: Number((bestOurs / bestBase).toFixed(3)),
  medianRatio: Number((median(mine) / median(base)).toFixed(3)),
  sha256sumCpuMBps: Number(mbps(Math.min(...baseCpu)).toFixed(1)),
  oursCpuMBps: Number(mbps(Math.min(...mineCpu)).toFixed(1)),
  cpuRatio: Number((Math.min(...mineCpu) / Math.min(...baseCpu)).toFixed(3)),
  merkleLeavesPerSec: Math.round((LEAVES / merkleMs) * 1000),
  loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  peakRssMiB,
  sha256sumPeakRssMiB: Number(baseRss.toFixed(1)),
  merkleRoot: rootHex,
};
log(
  `wall: sha256sum ${result.sha256sumMBps} MB/s, ours (SHA-256 + Merkle) ${result.oursMBps} MB/s, ratio ours/sha256sum ${result.ratio}× (median ${result.medianRatio}×)`,
);
log(
  `CPU:  sha256sum ${result.sha256sumCpuMBps} MB/s, ours ${result.oursCpuMBps} MB/s, ratio ${result.cpuRatio}×   peak RSS: ours (whole node process) ${result.peakRssMiB} MiB, sha256sum ${result.sha256sumPeakRssMiB} MiB   load avg ${result.loadAverage1m}`,
);
log(`merkle root: ${rootHex}`);
if (JSON_OUT) process.stdout.write(`${JSON.stringify(result)}\n`);
