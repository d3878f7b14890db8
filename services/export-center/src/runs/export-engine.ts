/**
 * What a run needs beyond the platform (database, store, signing key): the seams of issue #10,
 * injected as one small object so the state machine can be tested with its own adapter and the
 * service wires the real ones (sources/ledger.ts, adapters/registry.ts, bundle/*).
 */
import type { Db } from '@stella/platform/db';
import type { ObjectStore } from '@stella/platform/object-store';
import type { CreateStagingSink, SealExportBundle } from '../bundle/export-bundle.js';
import type { AdapterLookup } from '../profiles/profile.js';
import type { OpenLedger } from '../sources/source-record.js';
import type { ExportMetrics } from '../metrics.js';
import type { ExportSettings } from '../settings.js';

export interface ExportEngine {
  readonly openLedger: OpenLedger;
  readonly adapters: AdapterLookup;
  readonly createStagingSink: CreateStagingSink;
  readonly sealExportBundle: SealExportBundle;
}

/** Logging the worker needs (a pino/Fastify logger fits). */
export interface RunLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Everything a worker runs with. */
export interface RunEnv {
  readonly db: Db;
  readonly store: ObjectStore;
  /** Signer URI of export manifests (`file:` or `pkcs11:`). */
  readonly signingKey: string;
  readonly engine: ExportEngine;
  readonly settings: ExportSettings;
  readonly log: RunLog;
  /** Where staging directories are made (default: the OS temp dir). */
  readonly workDir?: string;
  /** Counts attempt outcomes (src/metrics.ts); absent in tests that do not look. */
  readonly metrics?: ExportMetrics;
}
