/** The engine of the worker-process tests: the same in the parent (API) and in every child. */
import { createHash } from 'node:crypto';
import type { ExportEngine } from '../runs/export-engine.js';
import type { SourceRecord } from '../sources/source-record.js';
import { sealExportBundle } from '../bundle/seal-export.js';
import { createStagingSink } from '../bundle/staging-sink.js';
import { memoryLedger } from './interim-engine.js';
import { testJsonlAdapter } from './test-adapters.js';

export const CHILD_RECORDS = 12;

function advisory(i: number): SourceRecord {
  const document = { id: `GHSA-${i}`, summary: `advisory ${i}` };
  return {
    kind: 'advisory',
    recordId: `GHSA-${String(i).padStart(4, '0')}`,
    tenant: null,
    project: null,
    ledgerSeq: BigInt(i),
    digest: `sha256:${createHash('sha256').update(JSON.stringify(document)).digest('hex')}`,
    format: 'osv',
    ecosystem: 'npm',
    packages: [],
    severity: 'high',
    modifiedAt: null,
    document,
  };
}

export function childTestEngine(counterDir: string): ExportEngine {
  const adapter = testJsonlAdapter(counterDir);
  return {
    openLedger: memoryLedger(Array.from({ length: CHILD_RECORDS }, (_, i) => advisory(i + 1))),
    adapters: new Map([[adapter.id, adapter]]),
    createStagingSink,
    sealExportBundle,
  };
}
