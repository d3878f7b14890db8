/**
 * Chain of custody (issue #8 item 6; docs/evidence/retention.md "Chain of custody"): every seal,
 * download, verify, hold, release, export, purge and incident change is one append-only row of
 * `evidence_locker.custody_events` AND one outbox event `evidence.custody.<action>` (DESIGN.md §3
 * "Kinds we emit"), written in the caller's transaction — so the Timeline Indexer sees exactly
 * the custody rows that committed. The specific events (`evidence.bundle.sealed`,
 * `evidence.hold.placed`, …) are published by their routes beside these.
 */
import type { EventEvidenceRef } from '@stella/platform/bus';
import type { TenantTx } from '@stella/platform/service';

export const CUSTODY_ACTIONS = [
  'seal',
  'download',
  'artifact-download',
  'verify',
  'hold',
  'release',
  'hold-expired',
  'export',
  'purge',
  'incident-activated',
  'incident-deactivated',
] as const;
export type CustodyAction = (typeof CUSTODY_ACTIONS)[number];

export interface CustodyRecord {
  action: CustodyAction;
  /** The bundle acted on; absent for tenant-wide actions (incident changes). */
  bundleId?: string;
  actor: string;
  requestId?: string;
  details?: Record<string, unknown>;
  /** Digests of what was acted on, for the event's `evidence` (the timeline links them). */
  evidence?: EventEvidenceRef[];
}

/** The custody row and its `evidence.custody.<action>` event, in `tx`. */
export async function recordCustody(tx: TenantTx, rec: CustodyRecord): Promise<void> {
  await tx.query(
    `INSERT INTO evidence_locker.custody_events (bundle_id, action, actor, request_id, details)
     VALUES ($1, $2, $3, $4, $5::jsonb)`,
    [rec.bundleId ?? null, rec.action, rec.actor, rec.requestId ?? null, JSON.stringify(rec.details ?? {})],
  );
  await tx.publish({
    kind: `evidence.custody.${rec.action}`,
    subject: rec.bundleId ?? tx.tenant,
    attributes: { action: rec.action, ...(rec.bundleId ? { bundleId: rec.bundleId } : {}) },
    ...(rec.details ? { payload: rec.details } : {}),
    ...(rec.evidence?.length ? { evidence: rec.evidence } : {}),
  });
}
