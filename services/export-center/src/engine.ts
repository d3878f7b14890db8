/**
 * The service's real export engine: the adapter registry and the bundle writer of issue #10, and
 * the sources ledger (wired when it lands on this branch).
 */
import { StellaError } from '@stella/core/errors';
import { ADAPTERS } from './adapters/registry.js';
import { sealExportBundle } from './bundle/seal-export.js';
import { createStagingSink } from './bundle/staging-sink.js';
import type { ExportEngine } from './runs/export-engine.js';

export const defaultEngine: ExportEngine = {
  openLedger: () => {
    throw new StellaError('SERVICE_UNAVAILABLE', 'export engine: the sources ledger is not wired yet');
  },
  adapters: new Map(ADAPTERS.map((a) => [a.id, a])),
  createStagingSink,
  sealExportBundle,
};
