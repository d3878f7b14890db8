/**
 * Export Center sources: import of one large source file, streamed (issue #10 "a 200 MB source
 * file (streamed, not buffered)"). Generates an OSV JSON array and a findings JSONL file of
 * `--size-mib` each (default 200) plus a tenth-size pair, imports each into a fresh PostgreSQL
 * database through `importSource` (the code the HTTP route runs), and reports records/s and the
 * peak RSS of this process during each import — flat when the tenth-size and full-size peaks match.
 *
 *   node --conditions=development --import tsx bench/sources-import.ts [--size-mib 200] [--json]
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust auth); the database and the files are removed.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '@stella/platform/db';
import { createTestDatabase } from '@stella/testkit';
import { exportCenterService } from '@stella/export-center';
import { importSource } from '@stella/export-center/sources';
import { benchArgs, sizeOption } from './lib/args.js';
import { machineLine, printTable, round, rssSampler } from './lib/measure.js';

const args = benchArgs();
const SIZE = sizeOption(args, 200);

function osvEntry(i: number): string {
  return JSON.stringify({
    schema_version: '1.6.0',
    id: `BENCH-${String(i).padStart(9, '0')}`,
    modified: '2026-06-01T00:00:00Z',
    summary: `Synthetic advisory ${i}`,
    details: 'x'.repeat(1500),
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
    affected: [
      {
        package: { ecosystem: 'npm', name: `pkg-${i % 5000}` },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.1' }] }],
      },
    ],
  });
}
function finding(i: number): string {
  return JSON.stringify({
    id: `finding-${i}`,
    vulnerability: `CVE-2026-${i % 100000}`,
    package: { ecosystem: 'npm', name: `pkg-${i % 5000}`, version: '1.0.0' },
    severity: 'high',
    artifact: `registry.example/app-${i % 100}@sha256:${'a'.repeat(64)}`,
    evidence: 'y'.repeat(1500),
  });
}

/** Writes records until the file reaches `bytes`; returns how many. */
async function generate(path: string, bytes: number, kind: 'osv' | 'findings'): Promise<number> {
  const out = createWriteStream(path);
  let size = 0;
  let n = 0;
  if (kind === 'osv') out.write('[');
  while (size < bytes) {
    const line = kind === 'osv' ? (n > 0 ? ',\n' : '') + osvEntry(n) : finding(n) + '\n';
    size += Buffer.byteLength(line);
    n++;
    if (!out.write(line)) await once(out, 'drain');
  }
  if (kind === 'osv') out.write(']');
  out.end();
  await once(out, 'finish');
  return n;
}

async function importCase(db: Db, path: string, kind: 'advisory' | 'finding', tenant: string) {
  global.gc?.();
  const before = process.memoryUsage.rss() / 2 ** 20;
  const peak = rssSampler();
  const t0 = performance.now();
  const s = await importSource(createReadStream(path), {
    kind,
    scope: { tenant, global: false },
    transaction: (fn) => db.withTenant(tenant, fn),
  });
  const ms = performance.now() - t0;
  return { s, ms, before, peak: peak() };
}

async function main(): Promise<void> {
  args.log(machineLine());
  const dir = await mkdtemp(join(tmpdir(), 'stella-bench-sources-'));
  const target = await createTestDatabase('bench_sources');
  const db = await openDb({ kind: 'postgres', url: target.url, poolMax: 4 });
  const rows: Record<string, string | number>[] = [];
  try {
    await migrate(db, [PLATFORM_MIGRATIONS, exportCenterService.migrations]);
    for (const [format, kind] of [
      ['osv', 'advisory'],
      ['findings', 'finding'],
    ] as const) {
      for (const bytes of [Math.round(SIZE / 10), SIZE]) {
        const path = join(dir, `${format}-${bytes}.json`);
        const n = await generate(path, bytes, format);
        const mib = (await stat(path)).size / 2 ** 20;
        const r = await importCase(db, path, kind, `t-${format}-${bytes}`);
        if (r.s.imported !== n || r.s.rejectedCount !== 0)
          throw new Error(`imported ${r.s.imported} of ${n}, rejected ${r.s.rejectedCount}`);
        rows.push({
          case: format,
          'file MiB': round(mib, 1),
          records: n,
          s: round(r.ms / 1000, 1),
          'records/s': Math.round(n / (r.ms / 1000)),
          'MiB/s': round(mib / (r.ms / 1000), 1),
          'RSS before MiB': round(r.before, 0),
          'peak RSS MiB': round(r.peak, 0),
        });
        await rm(path);
      }
    }
  } finally {
    await db.close();
    await target.drop();
    await rm(dir, { recursive: true, force: true });
  }
  if (args.json) console.log(JSON.stringify({ machine: machineLine(), rows }));
  else printTable(rows, (l) => args.log(l));
}

await main();
