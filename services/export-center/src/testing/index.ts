/**
 * Test and bench support for the adapters and the bundle writer: SourceRecords made from the real
 * public datasets (../shared/datasets, SOURCE.md for licences) without a database, and a
 * deterministic synthesiser of many OSV-shaped advisories for bench/export. The real importers
 * live in sources/; this only maps enough fields for the adapters to have realistic input.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { compareUtf8 } from '@stella/core/tar';
import type { Severity, SourceKind, SourceRecord } from '../sources/source-record.js';

export { readSse, type SseEvent } from './run-fixtures.js';

interface OsvLike {
  id: string;
  modified?: string;
  affected?: { package?: { name?: string; ecosystem?: string } }[];
  database_specific?: { severity?: string };
}

const SEVERITY_WORDS: Record<string, Severity> = {
  critical: 'critical',
  high: 'high',
  moderate: 'medium',
  medium: 'medium',
  low: 'low',
};

function isoOrNull(s: string | undefined): string | null {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) || t < 0 ? null : new Date(t).toISOString();
}

/** An OSV entry as the ledger would hold it (ledgerSeq given by the caller). */
export function osvRecord(doc: OsvLike, ledgerSeq: bigint, tenant: string | null = null): SourceRecord {
  const packages = [...new Set((doc.affected ?? []).map((a) => a.package?.name).filter((n): n is string => !!n))].sort(
    compareUtf8,
  );
  return {
    kind: 'advisory',
    recordId: doc.id,
    tenant,
    project: null,
    ledgerSeq,
    digest: sha256Digest(canonicalJcsBytes(doc)),
    format: 'osv',
    ecosystem: doc.affected?.[0]?.package?.ecosystem ?? null,
    packages,
    severity: SEVERITY_WORDS[String(doc.database_specific?.severity ?? '').toLowerCase()] ?? 'unknown',
    modifiedAt: isoOrNull(doc.modified),
    document: doc,
  };
}

/** A whole document of another kind (VEX, SBOM, …) as a record. */
export function documentRecord(
  kind: SourceKind,
  recordId: string,
  format: string,
  doc: unknown,
  ledgerSeq: bigint,
  tenant: string | null = 'acme',
): SourceRecord {
  return {
    kind,
    recordId,
    tenant,
    project: null,
    ledgerSeq,
    digest: sha256Digest(canonicalJcsBytes(doc)),
    format,
    ecosystem: null,
    packages: [],
    severity: 'unknown',
    modifiedAt: null,
    document: doc,
  };
}

/** Ledger order: (kind, recordId) in UTF-8 byte order. */
export function ledgerOrder(records: SourceRecord[]): SourceRecord[] {
  return records.sort((a, b) => compareUtf8(a.kind, b.kind) || compareUtf8(a.recordId, b.recordId));
}

async function jsonFiles(dir: string, limit: number): Promise<{ name: string; doc: unknown }[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(
    names.slice(0, limit).map(async (name) => ({ name, doc: JSON.parse(await readFile(join(dir, name), 'utf8')) })),
  );
}

/**
 * Records from the datasets: `perSource` OSV advisories from each of go-vulndb, rustsec and
 * pypi-pysec, the go-vex OpenVEX fixtures and the CycloneDX bom-examples — in ledger order.
 */
export async function datasetRecords(datasetsDir: string, perSource = 20): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  let seq = 0n;
  for (const sub of ['osv/go-vulndb', 'osv/rustsec', 'osv/pypi-pysec'])
    for (const f of await jsonFiles(join(datasetsDir, sub), perSource)) out.push(osvRecord(f.doc as OsvLike, ++seq));
  for (const f of await jsonFiles(join(datasetsDir, 'vex/openvex/go-vex-testdata'), 10))
    out.push(documentRecord('vex', `go-vex/${f.name}`, 'openvex', f.doc, ++seq));
  for (const name of ['cern-lhc-vdm-editor-e564943', 'dropwizard-1.3.15']) {
    const doc = JSON.parse(await readFile(join(datasetsDir, 'sbom/cyclonedx/bom-examples', name, 'bom.json'), 'utf8'));
    out.push(documentRecord('sbom', `bom-examples/${name}`, 'cyclonedx', doc, ++seq));
  }
  return ledgerOrder(out);
}

/** The same records as the ledger's async iterable (one at a time). */
export async function* iterate(records: Iterable<SourceRecord>): AsyncGenerator<SourceRecord> {
  for (const r of records) yield r;
}

/**
 * `count` OSV advisories shaped like the dataset's (its real entries as templates, ids, package
 * names and versions varied deterministically), yielded in ledger order without being collected.
 */
export async function* synthesiseAdvisories(
  templates: readonly unknown[],
  count: number,
): AsyncGenerator<SourceRecord> {
  const width = String(count).length;
  for (let i = 0; i < count; i++) {
    const t = templates[i % templates.length] as OsvLike & Record<string, unknown>;
    const id = `SYN-${String(i).padStart(width, '0')}`;
    const doc = {
      ...t,
      id,
      modified: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
      aliases: [`CVE-2099-${String(i).padStart(6, '0')}`],
      affected: (t.affected ?? []).map((a, j) => ({
        ...a,
        package: { ...a.package, name: `${a.package?.name ?? 'pkg'}-${i % 997}-${j}` },
      })),
    };
    yield osvRecord(doc, BigInt(i + 1));
  }
}

/** The OSV entries of the datasets, as templates for {@link synthesiseAdvisories}. */
export async function osvTemplates(datasetsDir: string, perSource = 200): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const sub of ['osv/go-vulndb', 'osv/rustsec', 'osv/pypi-pysec'])
    for (const f of await jsonFiles(join(datasetsDir, sub), perSource)) out.push(f.doc);
  return out;
}

export { startExportHarness, type ExportHarness, type ExportHarnessOptions } from './export-harness.js';
export { rawRecordJson, rawRecordLine } from '../adapters/record-stream.js';
export { trivyDatasetAdvisories, TRIVY_OSV_DATASETS, TRIVY_ALPINE_RELEASES } from './trivy-datasets.js';
