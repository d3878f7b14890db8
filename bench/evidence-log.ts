/**
 * Evidence Locker transparency log (issue 12 item 3; docs/evidence/transparency-log.md): what the
 * log costs a seal and how soon a sealed bundle is provable. One in-process server (PostgreSQL on
 * 127.0.0.1:5432, fs store in a temp dir, the log sequencer worker running with its default
 * 200 ms idle interval, or `--interval`), `--seals` small bundles (one inline artifact each) sealed
 * `--concurrency` at a time. Reported: seal response time (the entry is enqueued in the seal's
 * transaction; the response does not wait for the log), seal → inclusion proof available (polled
 * every 10 ms on `GET /evidence/log/proof/inclusion`), the first logged `bundle.tgz` download (one
 * digest pass + the body) against a repeat one, and the CPU time of this process (server + client).
 *
 *   node --conditions=development --import tsx bench/evidence-log.ts [--seals 200] [--concurrency 4] [--interval 200]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@stella/platform/config';
import { createTestDatabase } from '@stella/testkit';
import { mintDevToken, SERVICES, startRuntime } from '@stella/server';
import { benchArgs } from './lib/args.js';
import { machineLine, median, percentile, round } from './lib/measure.js';

const args = benchArgs();
const SEALS = args.num('seals', 200);
const CONCURRENCY = args.num('concurrency', 4);
const INTERVAL = args.num('interval', 200);

const db = await createTestDatabase('bench_evlog');
const dir = await mkdtemp(join(tmpdir(), 'stella-bench-evlog-'));
const config = loadConfig(
  {
    STELLA_HTTP_PORT: '0',
    STELLA_WORKERS: '1',
    STELLA_DATABASE_URL: db.url,
    STELLA_BUS_URL: `memory://bench-evlog-${Date.now()}`,
    STELLA_EVIDENCE_LOG_INTERVAL_MS: String(INTERVAL),
  },
  {},
  { cwd: dir, services: SERVICES },
);
const rt = await startRuntime(config, { version: 'bench', logger: false });
const tenant = 'bench-log';
const token = await mintDevToken(rt.devIssuer!, tenant);
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${rt.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'x-stella-tenant': tenant,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

const sealMs: number[] = [];
const provableMs: number[] = [];
const ids: string[] = [];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let next = 0;
async function worker(): Promise<void> {
  while (next < SEALS) {
    const i = next++;
    const start = performance.now();
    const r = await call('POST', '/evidence/snapshot', {
      kind: 'job',
      subject: { name: 'run', digest: `sha256:${i.toString(16).padStart(64, '0')}` },
      artifacts: [
        {
          path: 'out.txt',
          role: 'output',
          mediaType: 'text/plain',
          content: Buffer.from(`run ${i}`).toString('base64'),
        },
      ],
    });
    if (r.status !== 201) throw new Error(`seal ${i}: ${r.status} ${await r.text()}`);
    const { bundleId } = (await r.json()) as { bundleId: string };
    sealMs.push(performance.now() - start);
    ids.push(bundleId);
    for (;;) {
      const p = (await (await call('GET', `/evidence/log/proof/inclusion?bundleId=${bundleId}`)).json()) as {
        entries: { inclusionProof?: unknown }[];
      };
      if (p.entries[0]?.inclusionProof) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    provableMs.push(performance.now() - start);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);

const dl = async (id: string) => {
  const s = performance.now();
  const r = await call('GET', `/evidence/${id}/download`);
  await r.arrayBuffer();
  if (r.headers.get('x-stella-log-proof') !== 'included') throw new Error('download without log proof');
  return performance.now() - s;
};
const first: number[] = [];
const repeat: number[] = [];
for (const id of ids.slice(0, 20)) {
  first.push(await dl(id));
  repeat.push(await dl(id));
}
const sorted = (xs: number[]) => xs.slice().sort((a, b) => a - b);
const info = (await (await call('GET', '/evidence/log')).json()) as { size: number };
console.log(machineLine());
console.log(
  JSON.stringify(
    {
      seals: SEALS,
      concurrency: CONCURRENCY,
      sequencerIntervalMs: INTERVAL,
      logSize: info.size,
      sealMs: { p50: round(median(sealMs), 1), p95: round(percentile(sorted(sealMs), 95), 1) },
      sealToProofMs: { p50: round(median(provableMs), 1), p95: round(percentile(sorted(provableMs), 95), 1) },
      downloadMs: { firstLoggedP50: round(median(first), 1), repeatP50: round(median(repeat), 1) },
      wallS: round(wallMs / 1000, 1),
      cpuMsPerSeal: round((cpu.user + cpu.system) / 1000 / SEALS, 1),
    },
    null,
    2,
  ),
);
await rt.close();
await db.drop();
await rm(dir, { recursive: true, force: true });
