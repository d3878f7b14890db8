/**
 * The TypeScript side of bench/trivy-db in its own process (so its peak RSS is its own):
 *
 *   trivy-db-child.ts writer <stream> <out.db>   — our BboltWriter writes the node stream
 *   trivy-db-child.ts adapter <records> <dir> [changed]  — trivy:db end to end over N synthesised
 *                                                advisories; `changed`: every 100th one revised (1 %)
 *
 * Prints one JSON line: wall ms of the work, CPU ms of the process, peak RSS (KiB, getrusage).
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
// Only what each mode needs is loaded, so the writer's RSS is not the whole service stack's.
import { decodeOps, trivyDbAdapter, writeTree, type BboltNode } from '@stella/export-center/adapters/trivy';

const [mode, a, b] = process.argv.slice(2);

async function* nodes(stream: string): AsyncGenerator<BboltNode> {
  for await (const o of decodeOps(createReadStream(stream, { highWaterMark: 1 << 20 }))) {
    if (o.op === 'delete') throw new Error('a write stream has no deletes');
    yield { path: o.path, value: o.op === 'put' ? o.value : null };
  }
}

const out: Record<string, unknown> = { rssBeforeKiB: Math.round(process.memoryUsage.rss() / 1024) };
const t0 = performance.now();
if (mode === 'writer') {
  await writeTree(b!, nodes(a!));
} else if (mode === 'adapter') {
  const { createStagingSink } = await import('@stella/export-center');
  const { osvTemplates, synthesiseAdvisories } = await import('@stella/export-center/testing');
  const { datasetsDir } = await import('@stella/testkit');
  const templates = await osvTemplates(datasetsDir);
  const t1 = performance.now();
  const v = trivyDbAdapter.validateOptions({ ociLayout: false });
  if (!v.ok) throw new Error(JSON.stringify(v));
  const sink = await createStagingSink(b!);
  const changed = process.argv[5] === 'changed';
  const records = (async function* () {
    let i = 0;
    for await (const r of synthesiseAdvisories(templates, Number(a))) {
      // 1 % revised: a new summary and every fixed version moved (what an upstream fix looks like).
      if (changed && i++ % 100 === 7) {
        const doc = structuredClone(r.document) as {
          summary?: string;
          affected?: { ranges?: { events?: { fixed?: string }[] }[] }[];
        };
        doc.summary = `${doc.summary ?? ''} (revised)`;
        for (const af of doc.affected ?? [])
          for (const range of af.ranges ?? [])
            for (const e of range.events ?? []) if (e.fixed) e.fixed = `${e.fixed}.1`;
        yield { ...r, document: doc };
      } else yield r;
    }
  })();
  const r = await trivyDbAdapter.write({
    records,
    options: v.options,
    out: sink,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime: '2026-11-27T04:00:00.000Z',
  });
  out.setupMs = t1 - t0;
  out.counts = r.counts;
  out.db = join(sink.dir, 'trivy', 'trivy.db');
  out.files = sink.files();
} else throw new Error(`unknown mode ${mode}`);
const ru = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({ ...out, ms: performance.now() - t0, cpuMs: (ru.userCPUTime + ru.systemCPUTime) / 1000, maxRssKiB: ru.maxRSS })}\n`,
);
