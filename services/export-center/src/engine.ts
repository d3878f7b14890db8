/**
 * The service's real export engine: the sources ledger, the adapter registry and the bundle
 * writer of issue #10 (wired when those modules land on this branch).
 */
import { StellaError } from '@stella/core/errors';
import type { ExportEngine } from './runs/export-engine.js';

const unwired = (what: string) => () => {
  throw new StellaError('SERVICE_UNAVAILABLE', `export engine: ${what} is not wired yet`);
};

export const defaultEngine: ExportEngine = {
  openLedger: unwired('the sources ledger'),
  adapters: new Map(),
  createStagingSink: unwired('the staging sink'),
  sealExportBundle: unwired('the bundle sealer'),
};
