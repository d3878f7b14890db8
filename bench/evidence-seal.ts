/**
 * Evidence Locker: upload ~1,000 artifacts over HTTP to an in-process server on loopback, seal
 * them into one bundle (manifest + Merkle root + DSSE + deterministic bundle.tgz written to the
 * store) and download bundle.tgz — BESIDE `sha256sum` and `openssl dgst -sha256` over the same
 * files, paired in the same run (issue #8 acceptance "bench/evidence-seal"; DESIGN.md §5).
 *
 *   node --conditions=development --import tsx bench/evidence-seal.ts [--sizes 100MiB,1GiB]
 *        [--files 1000] [--runs 3] [--concurrency 4] [--json]
 *
 * Each size runs in its own child process (`--case <bytes>`), so its peak RSS is its own: the
 * server (PostgreSQL on 127.0.0.1:5432, fs store in a temp dir, `STELLA_WORKERS=0`) and the HTTP
 * client that streams the files from disk live in that one process, so the number is an upper
 * bound for the server's. Every run seals under a fresh tenant (no dedupe across runs) and
 * removes its objects afterwards. Reported per size: median upload / seal / download ms, the
 * median of (ours ÷ sha256sum) per paired run, MB/s, and peak RSS (sampled every 20 ms).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@stella/platform/config';
import { createTestDatabase } from '@stella/testkit';
import { mintDevToken, SERVICES, startRuntime } from '@stella/server';
import { benchArgs } from './lib/args.js';
import { alternate, machineLine, mbps, median, printTable, round, rssSampler, runBaseline } from './lib/measure.js';
import { benchTree, warmTree, type BenchTree } from './lib/tree.js';

const args = benchArgs();
const FILES = args.num('files', 1000);
const RUNS = args.num('runs', 3);
const CONCURRENCY = args.num('concurrency', 4);

function parseSize(s: string): number {
  const m = /^(\d+)(MiB|GiB)$/.exec(s.trim());
  if (!m) throw new Error(`bad size ${s} (e.g. 100MiB, 1GiB)`);
  return Number(m[1]) * (m[2] === 'GiB' ? 2 ** 30 : 2 ** 20);
}

interface CaseResult {
  bytes: number;
  files: number;
  runs: {
    uploadMs: number;
    sealMs: number;
    downloadMs: number;
    archiveBytes: number;
    sha256sumMs: number;
    opensslMs: number;
  }[];
  peakRssMiB: number;
  startRssMiB: number;
}

/** sha256:<hex> of a file, and its size — the client knows both before it uploads. */
async function fileDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function runCase(bytes: number): Promise<CaseResult> {
  const tree: BenchTree = await benchTree({ bytes, files: FILES, variant: 'random', log: args.log });
  const digests: string[] = [];
  for (const n of tree.names) digests.push(await fileDigest(join(tree.dir, n)));
  await warmTree(tree);
  const db = await createTestDatabase('bench_evidence');
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-evidence-'));
  const config = loadConfig(
    {
      STELLA_HTTP_PORT: '0',
      STELLA_WORKERS: '0',
      STELLA_DATABASE_URL: db.url,
      STELLA_OBJECT_STORE: `file://${join(dir, 'store')}`,
      STELLA_DATA_DIR: join(dir, 'data'),
      STELLA_BUS_URL: 'memory://bench',
      STELLA_LOG_LEVEL: 'warn',
    },
    {},
    { cwd: dir, services: SERVICES },
  );
  const rt = await startRuntime(config, { version: 'bench', logger: false });
  global.gc?.();
  const startRssMiB = round(process.memoryUsage.rss() / 2 ** 20, 1);
  const peak = rssSampler();
  const runs: CaseResult['runs'] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const tenant = `bench-${r}`;
      const token = await mintDevToken(rt.devIssuer!, tenant);
      const headers = { authorization: `Bearer ${token}`, 'x-stella-tenant': tenant };
      const ours = async () => {
        // Upload: CONCURRENCY streams at a time, each file streamed from disk with its Content-Length.
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            for (let i = next++; i < tree.names.length; i = next++) {
              const res = await fetch(`${rt.url}/evidence/blobs/${digests[i]}`, {
                method: 'PUT',
                headers: {
                  ...headers,
                  'content-type': 'application/octet-stream',
                  'content-length': String(tree.sizes[i]),
                },
                body: Readable.toWeb(createReadStream(join(tree.dir, tree.names[i]!), { highWaterMark: 1 << 20 })),
                duplex: 'half',
              } as RequestInit);
              if (res.status !== 201) throw new Error(`upload ${tree.names[i]}: ${res.status} ${await res.text()}`);
              await res.arrayBuffer();
            }
          }),
        );
        const t1 = performance.now();
        const sealed = await fetch(`${rt.url}/evidence/snapshot`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({
            kind: 'export',
            artifacts: tree.names.map((n, i) => ({
              path: n,
              role: 'output',
              mediaType: 'application/octet-stream',
              digest: digests[i],
            })),
          }),
        });
        if (sealed.status !== 201) throw new Error(`seal: ${sealed.status} ${await sealed.text()}`);
        const { bundleId } = (await sealed.json()) as { bundleId: string };
        const t2 = performance.now();
        const dl = await fetch(`${rt.url}/evidence/${bundleId}/download`, { headers });
        const h = createHash('sha256');
        let archiveBytes = 0;
        for await (const c of dl.body as unknown as AsyncIterable<Uint8Array>) {
          h.update(c);
          archiveBytes += c.byteLength;
        }
        if (`"sha256:${h.digest('hex')}"` !== dl.headers.get('etag')) throw new Error('download digest ≠ ETag');
        const t3 = performance.now();
        return { uploadMs: t1 - t0, sealMs: t2 - t1, downloadMs: t3 - t2, archiveBytes };
      };
      const baselines = async () => {
        const s = await runBaseline('sha256sum', tree.names, { cwd: tree.dir });
        const o = await runBaseline('openssl', ['dgst', '-sha256', ...tree.names], { cwd: tree.dir });
        const sums = s.stdout.toString().trim().split('\n');
        if (sums.length !== tree.names.length || sums.some((l, i) => `sha256:${l.slice(0, 64)}` !== digests[i]))
          throw new Error('sha256sum disagrees with the digests we uploaded');
        return { sha256sumMs: s.ms, opensslMs: o.ms };
      };
      const [mine, base] = await alternate(r, ours, baselines);
      runs.push({ ...mine, ...base });
      args.log(
        `${(bytes / 2 ** 20).toFixed(0)} MiB run ${r + 1}: upload ${mine.uploadMs.toFixed(0)} ms, seal ${mine.sealMs.toFixed(0)} ms, download ${mine.downloadMs.toFixed(0)} ms; sha256sum ${base.sha256sumMs.toFixed(0)} ms, openssl ${base.opensslMs.toFixed(0)} ms`,
      );
      // Free the disk for the next run (the fs store's objects of this tenant).
      for (let page = await rt.store.list(`evidence/${tenant}/`); page.items.length > 0;) {
        for (const it of page.items) await rt.store.delete(it.key);
        page = await rt.store.list(`evidence/${tenant}/`);
      }
    }
  } finally {
    await rt.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
  return { bytes, files: FILES, runs, peakRssMiB: round(peak(), 1), startRssMiB };
}

async function main(): Promise<void> {
  const caseArg = args.opt('case', '');
  if (caseArg) {
    process.stdout.write(`${JSON.stringify(await runCase(Number(caseArg)))}\n`);
    return;
  }
  args.log(machineLine());
  const sizes = args.opt('sizes', '100MiB,1GiB').split(',').map(parseSize);
  const results: CaseResult[] = [];
  for (const bytes of sizes) {
    const child = spawn(
      process.execPath,
      [
        '--conditions=development',
        '--import',
        'tsx',
        '--expose-gc',
        fileURLToPath(import.meta.url),
        '--case',
        String(bytes),
        '--files',
        String(FILES),
        '--runs',
        String(RUNS),
        '--concurrency',
        String(CONCURRENCY),
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    if (code !== 0) throw new Error(`case ${bytes} exited ${code}`);
    results.push(JSON.parse(out) as CaseResult);
  }
  const rows = results.map((c) => {
    const ours = c.runs.map((r) => r.uploadMs + r.sealMs + r.downloadMs);
    return {
      MiB: Math.round(c.bytes / 2 ** 20),
      files: c.files,
      upload_ms: Math.round(median(c.runs.map((r) => r.uploadMs))),
      seal_ms: Math.round(median(c.runs.map((r) => r.sealMs))),
      download_ms: Math.round(median(c.runs.map((r) => r.downloadMs))),
      total_MBps: round(mbps(c.bytes, median(ours)), 1),
      sha256sum_ms: Math.round(median(c.runs.map((r) => r.sha256sumMs))),
      openssl_ms: Math.round(median(c.runs.map((r) => r.opensslMs))),
      ours_vs_sha256sum: round(median(c.runs.map((r, i) => ours[i]! / r.sha256sumMs)), 1),
      peak_RSS_MiB: c.peakRssMiB,
      start_RSS_MiB: c.startRssMiB,
    };
  });
  if (args.json) process.stdout.write(`${JSON.stringify({ cases: results, summary: rows })}\n`);
  else printTable(rows, args.log);
}

await main();
