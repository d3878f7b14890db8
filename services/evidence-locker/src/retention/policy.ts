/**
 * A tenant's retention policy (docs/evidence/retention.md "Policy"): how long an unheld bundle is
 * kept after sealing — one duration per bundle kind, else the default; no policy (or no default
 * and no rule for the kind) keeps bundles forever. While incident mode is active, every period is
 * longer by STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION.
 */
import type { Queryable } from '@stella/platform/db';
import { BUNDLE_KINDS, type BundleKind } from '../bundle/manifest.js';
import { formatDuration } from './duration.js';

export interface RetentionPolicy {
  version: number;
  /** Seconds, or null: kept forever unless the kind has its own rule. */
  defaultKeepSeconds: number | null;
  kindKeepSeconds: Partial<Record<BundleKind, number>>;
  updatedAt: Date;
  updatedBy: string;
}

interface PolicyRow {
  [k: string]: unknown;
  version: number;
  default_keep_seconds: string | null;
  kind_keep_seconds: Record<string, number>;
  updated_at: Date;
  updated_by: string;
}

export async function loadPolicy(tx: Queryable): Promise<RetentionPolicy | undefined> {
  const r = await tx.query<PolicyRow>(
    `SELECT version, default_keep_seconds::text AS default_keep_seconds, kind_keep_seconds, updated_at, updated_by
     FROM evidence_locker.retention_policies`,
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const kinds: Partial<Record<BundleKind, number>> = {};
  for (const k of BUNDLE_KINDS) if (typeof row.kind_keep_seconds[k] === 'number') kinds[k] = row.kind_keep_seconds[k];
  return {
    version: row.version,
    defaultKeepSeconds: row.default_keep_seconds === null ? null : Number(row.default_keep_seconds),
    kindKeepSeconds: kinds,
    updatedAt: new Date(row.updated_at),
    updatedBy: row.updated_by,
  };
}

/** The policy as the API shows it: ISO 8601 durations. */
export function policyView(p: RetentionPolicy | undefined) {
  if (!p) return { version: 0, default: null, kinds: {} };
  return {
    version: p.version,
    default: p.defaultKeepSeconds === null ? null : formatDuration(p.defaultKeepSeconds),
    kinds: Object.fromEntries(Object.entries(p.kindKeepSeconds).map(([k, s]) => [k, formatDuration(s)])),
    updatedAt: p.updatedAt.toISOString(),
    updatedBy: p.updatedBy,
  };
}
