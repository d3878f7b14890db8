/**
 * The real datasets the Trivy exports are tested on (../shared/datasets: OSV from Go vulndb,
 * RustSec, PyPA and the trivy-db GHSA fixtures; Alpine secdb 3.10/3.11), read through the real
 * importers into ledger records — the input of `trivy:db` in tests and benches.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { importerOf } from '../sources/importers/registry.js';
import type { SourceRecord } from '../sources/source-record.js';
import { ledgerOrder } from './index.js';

async function jsonFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await jsonFilesUnder(p)));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}

export const TRIVY_OSV_DATASETS = ['osv/go-vulndb', 'osv/rustsec', 'osv/pypi-pysec', 'osv/ghsa-trivy-db-testdata'];
export const TRIVY_ALPINE_RELEASES = ['v3.10', 'v3.11'];

/** Advisory records of the datasets (`osv` sub-dirs and Alpine releases as given), in ledger order. */
export async function trivyDatasetAdvisories(
  datasetsDir: string,
  opts: { osv?: readonly string[]; alpine?: readonly string[] } = {},
): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  let seq = 0n;
  const add = async (format: 'osv' | 'alpine-secdb', file: string): Promise<void> => {
    for await (const item of importerOf(format).read(createReadStream(file), 'advisory')) {
      if (!('record' in item)) throw new Error(`${file}: ${JSON.stringify(item)}`);
      const r = item.record;
      out.push({
        kind: r.kind,
        recordId: r.recordId,
        tenant: null,
        project: null,
        ledgerSeq: ++seq,
        digest: r.digest,
        format: r.format,
        ecosystem: r.ecosystem,
        packages: r.packages,
        severity: r.severity,
        modifiedAt: r.modifiedAt,
        document: JSON.parse(r.canonical) as unknown,
      });
    }
  };
  for (const sub of opts.osv ?? TRIVY_OSV_DATASETS)
    for (const f of await jsonFilesUnder(join(datasetsDir, sub))) await add('osv', f);
  for (const v of opts.alpine ?? TRIVY_ALPINE_RELEASES)
    for (const f of ['main.json', 'community.json']) await add('alpine-secdb', join(datasetsDir, 'alpine-secdb', v, f));
  return ledgerOrder(out);
}
