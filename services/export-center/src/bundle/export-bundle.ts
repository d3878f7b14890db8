/**
 * The contract between the run worker and the bundle writer (issue #10 §6; DESIGN.md §4 "Export
 * bundle"). The worker stages the adapter's files with `createStagingSink`, then `sealExportBundle`
 * writes export.json, export.dsse.json (detached DSSE over export.json), export.intoto.dsse.json (DSSE
 * over an in-toto Statement whose subjects are the files), checksums.txt, and packs everything
 * into one deterministic `export.tgz` (streamed to a file; never buffered whole).
 */
import type { Signer } from '@stella/core/signing';
import type { ExportFile, ExportFileSink } from '../adapters/adapter.js';
import type { SourceFilter } from '../sources/source-record.js';

export interface StagingSink extends ExportFileSink {
  readonly dir: string;
  /** Files written so far, sorted by path. */
  files(): readonly ExportFile[];
  /** Removes the staging directory. */
  dispose(): Promise<void>;
}

export interface ExportManifestInput {
  readonly profile: { readonly id: string; readonly name: string; readonly version: number };
  /**
   * The tenant whose snapshot this is. The run id is deliberately not here (docs/adr/0012): the
   * manifest names the inputs, so two runs over the same inputs seal the same bytes; the run row
   * ties a run to its archive digest.
   */
  readonly tenant: string;
  readonly adapter: {
    readonly id: string;
    readonly version: string;
    readonly options: Readonly<Record<string, unknown>>;
  };
  readonly filter: SourceFilter;
  /** The ledger sequence the run pinned (decimal string in the manifest). */
  readonly ledgerSeq: bigint;
  readonly counts: Readonly<Record<string, number>>;
  /** Fixed export time, or null: then no time appears anywhere in the bundle. */
  readonly exportTime: string | null;
}

export interface SealedExport {
  /** Path of the packed export.tgz (inside the staging area's parent; caller moves or uploads it). */
  readonly archivePath: string;
  readonly archiveDigest: string;
  readonly archiveSize: number;
  /** `sha256:` of export.json's bytes. */
  readonly manifestDigest: string;
  /** sha256 over the sorted content digests of the data files: equal for equal content. */
  readonly rerunHash: string;
  readonly keyId: string;
  readonly files: readonly ExportFile[];
}

export type CreateStagingSink = (parentDir: string) => Promise<StagingSink>;
export type SealExportBundle = (
  staging: StagingSink,
  manifest: ExportManifestInput,
  signer: Signer,
) => Promise<SealedExport>;
