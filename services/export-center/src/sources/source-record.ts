/**
 * The contract between the sources store (what the platform knows: advisories, VEX, SBOMs,
 * findings, policy packs) and everything that reads it for an export (planner, adapters).
 * A run pins one ledger sequence and reads the sources as they were at that sequence, so records
 * imported after the run started never leak into it (issue #10 "ledger iterators").
 */
import type { Db } from '@stella/platform/db';

export const SOURCE_KINDS = ['advisory', 'vex', 'sbom', 'finding', 'policy', 'artifact'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'none', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One version of one source record, as the ledger holds it. */
export interface SourceRecord {
  readonly kind: SourceKind;
  /**
   * Natural id, unique per (tenant, kind): OSV id, `<distro>/<version>/<repo>:<package>` for
   * Alpine secdb, VEX document id, SBOM serial/namespace, finding id, `<pack>@<version>`,
   * `<groupId>:<artifactId>:<archiveType>[:<classifier>]:<version>` for a Maven index row.
   */
  readonly recordId: string;
  /** null only for global advisories (visible to every tenant). */
  readonly tenant: string | null;
  readonly project: string | null;
  /** The ledger sequence that wrote this version (monotonic across the store). */
  readonly ledgerSeq: bigint;
  /** `sha256:<hex>` of the RFC 8785 bytes of `document`: the idempotency key of an import. */
  readonly digest: string;
  /** Input format: 'osv' | 'alpine-secdb' | 'openvex' | 'csaf' | 'cyclonedx' | 'spdx' | 'findings' | 'policy-pack' | 'maven-index'. */
  readonly format: string;
  readonly ecosystem: string | null;
  /** Package names the record concerns (for the package filter); sorted, unique. */
  readonly packages: readonly string[];
  /** Highest severity the record states; 'unknown' when it states none. */
  readonly severity: Severity;
  /** The record's own modified time (ISO 8601, UTC), when the format has one. */
  readonly modifiedAt: string | null;
  /** The record as JSON (one OSV entry, one VEX document, one SBOM, one finding, one pack manifest). */
  readonly document: unknown;
  /**
   * The RFC 8785 text of `document` (what `digest` hashes), when the reader has it: the ledger
   * does, because that is what the store holds. Adapters that write canonical JSON splice it in
   * instead of re-canonicalising `document` (same bytes; record-stream.ts `rawRecordLine`).
   */
  readonly canonicalDocument?: string;
}

/** What a profile selects (all present conditions must hold). */
export interface SourceFilter {
  readonly kinds: readonly SourceKind[];
  readonly ecosystems?: readonly string[];
  readonly packages?: readonly string[];
  readonly severities?: readonly Severity[];
  /** ISO 8601: records whose `modifiedAt` is at or after it (records without one are excluded). */
  readonly modifiedSince?: string;
  readonly projects?: readonly string[];
  /**
   * Deterministic sampling: a record is kept iff the first 8 bytes of
   * sha256(`${seed}\n${kind}\n${recordId}`), as an unsigned big-endian integer, are below
   * rate × 2^64. Same seed, same records, on any machine.
   */
  readonly sample?: { readonly rate: number; readonly seed: string };
}

/** A tenant's view of the ledger (its own records plus global advisories). */
export interface LedgerReader {
  /** The highest committed ledger sequence: what a new run pins. */
  head(): Promise<bigint>;
  /**
   * The latest version (ledgerSeq ≤ atSeq) of every record matching `filter`, ordered by
   * (kind, recordId) in byte order — deterministic. Streamed in keyset pages (each page its own
   * short transaction), so memory stays flat whatever the count.
   */
  iterate(filter: SourceFilter, atSeq: bigint, signal?: AbortSignal): AsyncIterable<SourceRecord>;
  /** Count and total document bytes (RFC 8785) of what `iterate` would yield: the plan's estimate. */
  count(filter: SourceFilter, atSeq: bigint): Promise<{ records: number; bytes: number }>;
}

/** Opens a tenant's ledger reader (implemented in sources/ledger.ts). */
export type OpenLedger = (db: Db, tenant: string) => LedgerReader;
