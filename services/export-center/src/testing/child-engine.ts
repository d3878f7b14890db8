/**
 * The engine of the worker-process tests, the same in the parent (API) and in every child: the
 * real ledger, staging sink and sealer, with the test adapter (slow or failing on demand) so a
 * run can be killed mid-way. The parent imports the records (real OSV files) with
 * {@link importChildRecords}.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '@stella/platform/db';
import { datasetsDir } from '@stella/testkit';
import { sealExportBundle } from '../bundle/seal-export.js';
import { createStagingSink } from '../bundle/staging-sink.js';
import type { ExportEngine } from '../runs/export-engine.js';
import { importSource } from '../sources/import-source.js';
import { openLedger } from '../sources/ledger.js';
import { testJsonlAdapter } from './test-adapters.js';

/** Advisories the parent imports: the first 12 files of the Go vulndb dataset (SOURCE.md). */
export const CHILD_RECORDS = 12;

export async function importChildRecords(db: Db, tenant: string): Promise<void> {
  const dir = join(datasetsDir, 'osv/go-vulndb');
  const files = (await readdir(dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .slice(0, CHILD_RECORDS);
  for (const f of files)
    await importSource(createReadStream(join(dir, f)), {
      kind: 'advisory',
      scope: { tenant, global: true },
      transaction: (fn) => db.withTenant(tenant, fn),
    });
}

export function childTestEngine(counterDir: string): ExportEngine {
  const adapter = testJsonlAdapter(counterDir);
  return {
    openLedger,
    adapters: new Map([[adapter.id, adapter]]),
    createStagingSink,
    sealExportBundle,
  };
}
