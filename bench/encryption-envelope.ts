/**
 * Envelope-encryption throughput and memory: our streaming AES-256-GCM envelope and age (typage)
 * BESIDE baselines measured in the same run (DESIGN.md §5):
 *
 *   node --conditions=development --import tsx bench/encryption-envelope.ts [--size-mib 256 | --size 256MiB] [--runs 3] [--json]
 *
 *   baseline-openssl  `openssl enc -aes-256-ctr` over the same file (openssl enc cannot do GCM;
 *                     CTR is GCM without GHASH, so this is an upper bound for AES on this CPU)
 *   baseline-age      Debian `age -e -r <recipient>` over the same file (if installed)
 *   ours-encrypt      fs.createReadStream → createEncryptStream (AES-KW recipient) → discard
 *   ours-decrypt      the produced envelope → createDecryptStream → discard
 *   ours-age-encrypt  fs.createReadStream → ageEncryptStream → discard
 *
 * Input: deterministic pseudo-random bytes (AES-256-CTR keystream of a fixed key), cached in
 * bench/.out/encryption/. Reported: best-of-runs MB/s and this process's peak RSS, which must stay
 * flat (a few chunks) whatever --size is.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cpus } from 'node:os';
import {
  aesKeyWrapper,
  ageEncryptStream,
  createDecryptStream,
  createEncryptStream,
  generateAgeIdentity,
} from '@stella/core/encryption';
import { benchArgs, sizeOption } from './lib/args.js';
import { mbps as toMBps, peakRssMiB as processPeakRssMiB, round } from './lib/measure.js';

const args = benchArgs();
const SIZE = sizeOption(args, 256);
const RUNS = args.num('runs', 3);
const JSON_OUT = args.json;
const dir = join(new URL('.', import.meta.url).pathname, '.out', 'encryption');

async function ensureInput(): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `plain-${SIZE}.bin`);
  if (existsSync(path) && (await stat(path)).size === SIZE) return path;
  const f = await open(path, 'w');
  const c = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16, 0));
  const block = Buffer.alloc(1 << 20);
  for (let done = 0; done < SIZE; done += block.length)
    await f.write(c.update(block.subarray(0, Math.min(block.length, SIZE - done))));
  await f.close();
  return path;
}

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

function runTool(cmd: string, argv: string[]): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', rej);
    p.on('close', (code) => (code === 0 ? res() : rej(new Error(`${cmd} exited ${code}`))));
  });
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

function hasTool(t: string): Promise<boolean> {
  return new Promise((res) => {
    const p = spawn('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    p.on('close', (c) => res(c === 0));
  });
}

const input = await ensureInput();
const kw = aesKeyWrapper({ kek: randomBytes(32), id: 'bench-kek' });
const envelope = join(dir, `envelope-${SIZE}.senv`);
await pipeline(createReadStream(input), createEncryptStream({ recipients: [kw] }), createWriteStream(envelope));
const age = await generateAgeIdentity();

const results: Record<string, number> = {};
results['baseline-openssl-aes-256-ctr'] = await timeIt(() =>
  runTool('openssl', [
    'enc',
    '-aes-256-ctr',
    '-K',
    '00'.repeat(32),
    '-iv',
    '00'.repeat(16),
    '-in',
    input,
    '-out',
    '/dev/null',
  ]),
);
if (await hasTool('age'))
  results['baseline-age-cli-encrypt'] = await timeIt(() =>
    runTool('age', ['-e', '-r', age.recipient, '-o', '/dev/null', input]),
  );
results['ours-envelope-encrypt'] = await timeIt(() =>
  pipeline(createReadStream(input, { highWaterMark: 1 << 20 }), createEncryptStream({ recipients: [kw] }), sink()),
);
results['ours-envelope-decrypt'] = await timeIt(() =>
  pipeline(createReadStream(envelope, { highWaterMark: 1 << 20 }), createDecryptStream({ unwrappers: [kw] }), sink()),
);
results['ours-age-encrypt'] = await timeIt(async () => {
  const out = await ageEncryptStream(createReadStream(input, { highWaterMark: 1 << 20 }), [age.recipient]);
  await pipeline(out, sink());
});

const mbps = Object.fromEntries(Object.entries(results).map(([k, ms]) => [k, round(toMBps(SIZE, ms), 1)]));
const peakRssMiB = processPeakRssMiB();
const report = { sizeMiB: SIZE / 1024 ** 2, runs: RUNS, cpus: cpus().length, mbPerSecond: mbps, peakRssMiB };
if (JSON_OUT) console.log(JSON.stringify(report));
else {
  console.log(`encryption bench: ${report.sizeMiB} MiB, best of ${RUNS}, ${report.cpus} CPU(s)`);
  for (const [k, v] of Object.entries(mbps)) console.log(`  ${k.padEnd(30)} ${String(v).padStart(8)} MB/s`);
  console.log(`  peak RSS (this process)        ${peakRssMiB} MiB`);
}
