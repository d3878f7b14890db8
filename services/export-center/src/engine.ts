/**
 * The service's real export engine: the sources ledger, the adapter registry and the bundle
 * writer of issue #10 (runs/export-engine.ts says why they are injected).
 */
import { ADAPTERS } from './adapters/registry.js';
import { sealExportBundle } from './bundle/seal-export.js';
import { createStagingSink } from './bundle/staging-sink.js';
import type { ExportEngine } from './runs/export-engine.js';
import { openLedger } from './sources/ledger.js';

export const defaultEngine: ExportEngine = {
  openLedger,
  adapters: new Map(ADAPTERS.map((a) => [a.id, a])),
  createStagingSink,
  sealExportBundle,
};
