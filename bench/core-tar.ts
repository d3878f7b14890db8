/**
 * Deterministic tar.gz writer throughput BESIDE GNU `tar --sort=name -cf - DIR | gzip -6` over the
 * same tree in the same run (issue #3 item 6 "bench/core"; DESIGN.md §5).
 *
 *   node --conditions=development --import tsx bench/core-tar.ts [--size-mib 1024] [--files 1000]
 *        [--runs 2] [--variant random|text|both] [--level 6] [--json]
 *
 * Data: `--files` files totalling `--size-mib` MiB, generated once under bench/.out/tree (random:
 * AES-256-CTR keystream under a fixed key — incompressible) and bench/.out/tree-text (text: JSON
 * lines built from a small vocabulary by a seeded PRNG — compresses ~5×, like real advisories).
 * Generation goes to a temp dir that is renamed into place, so concurrent benches never see a
 * half-written tree. An untimed pass warms the page cache. Each run times, alternating order:
 *   baseline  sh -c 'tar --sort=name -cf - -C DIR . | gzip -6 | wc -c'  (under /usr/bin/time for RSS)
 *   ours      createTarGz(entries with fs.createReadStream bodies, 1 MiB chunks) → byte counter
 * Reported per variant: best-of-runs MB/s (input bytes / wall time), output sizes and ratio, peak
 * RSS of our process (process.resourceUsage().maxRSS) and of the baseline pipeline's largest
 * process; and whether our output was byte-identical across runs.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { createTarGz, type TarEntryInput } from '@stella/core/tar';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const SIZE = Math.round(Number(opt('size-mib', '1024')) * 2 ** 20);
const FILES = Number(opt('files', '1000'));
const RUNS = Number(opt('runs', '2'));
const LEVEL = Number(opt('level', '6'));
const VARIANT = opt('variant', 'both');
const JSON_OUT = args.includes('--json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(`${s}\n`);

const root = new URL('..', import.meta.url).pathname;
const names = Array.from({ length: FILES }, (_, i) => `d${String(i % 10)}/f${String(i).padStart(4, '0')}.bin`);
// Sizes vary ±50% around the mean (deterministically) and sum to SIZE.
const sizes = (() => {
  const w = names.map((_, i) => 0.5 + ((i * 7919) % 1000) / 1000);
  const total = w.reduce((a, b) => a + b, 0);
  const s = w.map((x) => Math.floor((x / total) * SIZE));
  s[s.length - 1]! += SIZE - s.reduce((a, b) => a + b, 0);
  return s;
})();

function textChunk(seed: number, n: number): Buffer {
  // xorshift32 over a small vocabulary: deterministic, compressible like JSON advisories.
  const words = [
    '"id"',
    '"CVE-2024-',
    '"severity"',
    '"HIGH"',
    '"LOW"',
    '"package"',
    '"openssl"',
    '"libc6"',
    '"fixedVersion"',
    '"1.2.3-r',
    '"status"',
    '"affected"',
    '{',
    '}',
    ':',
    ',',
    '\n',
  ];
  let x = seed | 1;
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const w = (x >>> 0) % 3 === 0 ? String((x >>> 8) % 99999) : words[(x >>> 0) % words.length]!;
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

async function generate(variant: 'random' | 'text'): Promise<string> {
  const dir = join(root, 'bench/.out', variant === 'random' ? 'tree' : 'tree-text');
  const marker = join(dir, '.complete');
  const want = JSON.stringify({ names, sizes });
  if (existsSync(marker) && (await readFile(marker, 'utf8')) === want) return dir;
  log(`generating ${variant} tree: ${FILES} files, ${(SIZE / 2 ** 20).toFixed(0)} MiB under ${dir} …`);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const key = createHash('sha256').update('stella-bench-core-tar').digest();
  const block = 1 << 20;
  for (let i = 0; i < FILES; i++) {
    const file = join(tmp, names[i]!);
    await mkdir(join(file, '..'), { recursive: true });
    const fh = await open(file, 'w');
    let left = sizes[i]!;
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(i, 0);
    const c = createCipheriv('aes-256-ctr', key, iv);
    let k = 0;
    while (left > 0) {
      const n = Math.min(left, block);
      await fh.write(variant === 'random' ? c.update(Buffer.alloc(n)) : textChunk(i * 7919 + k++, n));
      left -= n;
    }
    await fh.close();
  }
  await writeFile(join(tmp, '.complete'), want);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir); // atomic: readers see the old tree, no tree, or the whole new one
  return dir;
}

function baseline(dir: string): Promise<{ ms: number; bytes: number; rssKiB: number; cpuS: number }> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    // /usr/bin/time reports the max RSS of the largest process (tar or gzip) under sh, and the
    // user+system CPU seconds of sh and everything it waited for (tar, gzip, wc).
    const child = spawn(
      '/usr/bin/time',
      [
        '-f',
        '%M %U %S',
        'sh',
        '-c',
        `tar --sort=name -cf - -C "$1" --exclude=./.complete . | gzip -${LEVEL} | wc -c`,
        'sh',
        dir,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) return rej(new Error(`baseline exited ${code}: ${err}`));
      const [rss, user, sys] = err.trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number];
      res({ ms, bytes: Number(out.trim()), rssKiB: rss, cpuS: user + sys });
    });
  });
}

async function ours(dir: string): Promise<{ ms: number; bytes: number; sha256: string; cpuS: number }> {
  const t0 = performance.now();
  // process.cpuUsage covers all threads of the process, including the libuv pool running zlib.
  const c0 = process.cpuUsage();
  const entries: TarEntryInput[] = names.map((name, i) => ({
    path: name,
    size: sizes[i]!,
    body: () => createReadStream(join(dir, name), { highWaterMark: 1 << 20 }),
  }));
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createTarGz(entries, { gzipLevel: LEVEL })) {
    bytes += (chunk as Buffer).length;
    h.update(chunk as Buffer);
  }
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, bytes, sha256: h.digest('hex'), cpuS: (c.user + c.system) / 1e6 };
}

async function warm(dir: string): Promise<void> {
  for (const n of names) for await (const _ of createReadStream(join(dir, n), { highWaterMark: 1 << 20 }));
}

const mbps = (ms: number) => SIZE / 1e6 / (ms / 1000);
// RSS of this process before any archive work (node + tsx + modules), to separate the writer's own
// footprint from the runtime's.
const startRssMiB = Number((process.resourceUsage().maxRSS / 1024).toFixed(1));
log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, zlib ${process.versions.zlib}`,
);
const results = [];
for (const variant of VARIANT === 'both' ? (['random', 'text'] as const) : [VARIANT as 'random' | 'text']) {
  const dir = await generate(variant);
  await warm(dir);
  const base: Array<Awaited<ReturnType<typeof baseline>>> = [];
  const mine: Array<Awaited<ReturnType<typeof ours>>> = [];
  for (let r = 0; r < RUNS; r++) {
    if (r % 2 === 0) {
      base.push(await baseline(dir));
      mine.push(await ours(dir));
    } else {
      mine.push(await ours(dir));
      base.push(await baseline(dir));
    }
    log(
      `${variant} run ${r + 1}: tar|gzip ${base[r]!.ms.toFixed(0)} ms → ${base[r]!.bytes} B; ours ${mine[r]!.ms.toFixed(0)} ms → ${mine[r]!.bytes} B`,
    );
  }
  const bestBase = Math.min(...base.map((b) => b.ms));
  const bestOurs = Math.min(...mine.map((m) => m.ms));
  const result = {
    bench: 'core-tar',
    variant,
    files: FILES,
    inputBytes: SIZE,
    gzipLevel: LEVEL,
    runs: RUNS,
    baselineMBps: Number(mbps(bestBase).toFixed(1)),
    oursMBps: Number(mbps(bestOurs).toFixed(1)),
    timeRatio: Number((bestOurs / bestBase).toFixed(3)),
    // CPU seconds are far less sensitive than wall time to other load on the machine.
    baselineCpuS: Number(Math.min(...base.map((b) => b.cpuS)).toFixed(1)),
    oursCpuS: Number(Math.min(...mine.map((m) => m.cpuS)).toFixed(1)),
    baselineOutBytes: base[0]!.bytes,
    oursOutBytes: mine[0]!.bytes,
    sizeRatio: Number((mine[0]!.bytes / base[0]!.bytes).toFixed(4)),
    deterministic: mine.every((m) => m.sha256 === mine[0]!.sha256),
    oursSha256: mine[0]!.sha256,
    baselinePeakRssMiB: Number((Math.max(...base.map((b) => b.rssKiB)) / 1024).toFixed(1)),
    oursPeakRssMiB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    oursStartRssMiB: startRssMiB,
  };
  results.push(result);
  log(
    `${variant}: tar|gzip ${result.baselineMBps} MB/s, ours ${result.oursMBps} MB/s (time ratio ${result.timeRatio}×); ` +
      `CPU s tar|gzip ${result.baselineCpuS}, ours ${result.oursCpuS}; ` +
      `out ${result.baselineOutBytes} vs ${result.oursOutBytes} B; deterministic ${result.deterministic}; peak RSS baseline ${result.baselinePeakRssMiB} MiB, ours ${result.oursPeakRssMiB} MiB (${result.oursStartRssMiB} MiB before any work)`,
  );
}
if (JSON_OUT) process.stdout.write(`${JSON.stringify(results)}\n`);
