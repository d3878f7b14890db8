/**
 * export.json (docs/formats/export-bundle.md "export.json"): what was exported, from which
 * snapshot, by which adapter, and the size and digest of every data file. Serialized as RFC 8785
 * canonical JSON, so equal inputs give equal bytes; no time appears unless the profile fixed one,
 * and no run id (docs/adr/0012-export-manifest-names-inputs-not-runs.md): the manifest names the
 * inputs, not the run that happened to read them.
 */
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { StellaError } from '@stella/core/errors';
import { compareUtf8 } from '@stella/core/tar';
import type { ExportFile } from '../adapters/adapter.js';
import type { ExportManifestInput } from './export-bundle.js';
import { MANIFEST_MEDIA_TYPE, PUBLIC_KEY_FILE } from './bundle-files.js';

export const MANIFEST_SCHEMA_VERSION = 1;

export interface ExportManifest {
  readonly schemaVersion: number;
  readonly mediaType: string;
  readonly profile: { id: string; name: string; version: number };
  /** The tenant whose snapshot was exported; no run id (docs/adr/0012). */
  readonly tenant: string;
  /** Decimal string: the ledger sequence the run pinned (a bigint does not fit a JSON number). */
  readonly ledgerSeq: string;
  readonly filter: JsonValue;
  readonly adapter: { id: string; version: string; options: JsonValue };
  readonly counts: Record<string, number>;
  readonly files: ExportFile[];
  readonly rerunHash: string;
  readonly signer: { keyId: string; publicKey: string };
  readonly exportTime?: string;
}

/**
 * The rerun hash: `sha256:` of the content digests of the data files, sorted (byte order) and each
 * followed by `\n`. Paths, names and times do not enter it, so two runs that exported the same
 * content have the same rerun hash even when their profiles or runs differ.
 */
export function rerunHash(files: readonly Pick<ExportFile, 'digest'>[]): string {
  const sorted = files.map((f) => f.digest).sort(compareUtf8);
  return sha256Digest(sorted.map((d) => `${d}\n`).join(''));
}

/** Drops `undefined` members (a JSON value has none) and checks the rest is JSON (JSON_INVALID otherwise). */
function json(value: unknown, what: string): JsonValue {
  try {
    return JSON.parse(JSON.stringify(value ?? null)) as JsonValue;
  } catch (err) {
    throw new StellaError('JSON_INVALID', `${what} is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

function sortedCounts(counts: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(counts).sort(compareUtf8)) {
    const v = counts[k]!;
    if (!Number.isSafeInteger(v) || v < 0)
      throw new StellaError('VALIDATION_FAILED', `count ${k} must be a non-negative integer, got ${String(v)}`);
    out[k] = v;
  }
  return out;
}

/** The manifest object for `input` over `files` (data files only, any order), signed by `keyId`. */
export function buildManifest(input: ExportManifestInput, files: readonly ExportFile[], keyId: string): ExportManifest {
  if (input.exportTime !== null && Number.isNaN(Date.parse(input.exportTime)))
    throw new StellaError('VALIDATION_FAILED', `exportTime ${JSON.stringify(input.exportTime)} is not ISO 8601`);
  const sorted = [...files]
    .sort((a, b) => compareUtf8(a.path, b.path))
    .map((f) => ({ path: f.path, mediaType: f.mediaType, size: f.size, digest: f.digest }));
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    mediaType: MANIFEST_MEDIA_TYPE,
    profile: { id: input.profile.id, name: input.profile.name, version: input.profile.version },
    tenant: input.tenant,
    ledgerSeq: input.ledgerSeq.toString(10),
    filter: json(input.filter, 'filter'),
    adapter: {
      id: input.adapter.id,
      version: input.adapter.version,
      options: json(input.adapter.options, 'adapter options'),
    },
    counts: sortedCounts(input.counts),
    files: sorted,
    rerunHash: rerunHash(sorted),
    signer: { keyId, publicKey: PUBLIC_KEY_FILE },
    ...(input.exportTime !== null ? { exportTime: new Date(input.exportTime).toISOString() } : {}),
  };
}

/** The bytes of export.json. */
export function manifestBytes(manifest: ExportManifest): Uint8Array {
  return canonicalJcsBytes(manifest);
}
