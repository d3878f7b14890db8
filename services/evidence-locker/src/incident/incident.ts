/**
 * Incident mode state per tenant (issue #8 item 7; docs/evidence/incident-mode.md): at most one
 * active incident (a partial unique index); deactivated incidents stay as history.
 */
import type { Queryable } from '@stella/platform/db';

export interface Incident {
  id: string;
  reason: string;
  activatedAt: Date;
  activatedBy: string;
  deactivatedAt?: Date;
  deactivatedBy?: string;
  deactivateReason?: string;
}

interface IncidentRow {
  [k: string]: unknown;
  id: string;
  reason: string;
  activated_at: Date;
  activated_by: string;
  deactivated_at: Date | null;
  deactivated_by: string | null;
  deactivate_reason: string | null;
}

export const INCIDENT_COLUMNS =
  'id::text AS id, reason, activated_at, activated_by, deactivated_at, deactivated_by, deactivate_reason';

export function incidentOf(row: IncidentRow): Incident {
  return {
    id: row.id,
    reason: row.reason,
    activatedAt: new Date(row.activated_at),
    activatedBy: row.activated_by,
    ...(row.deactivated_at
      ? {
          deactivatedAt: new Date(row.deactivated_at),
          deactivatedBy: row.deactivated_by ?? '',
          deactivateReason: row.deactivate_reason ?? '',
        }
      : {}),
  };
}

/** The tenant's active incident (RLS: `tx` is a tenant transaction), if any. */
export async function activeIncident(tx: Queryable, lock = false): Promise<Incident | undefined> {
  const r = await tx.query<IncidentRow>(
    `SELECT ${INCIDENT_COLUMNS} FROM evidence_locker.incidents WHERE deactivated_at IS NULL${lock ? ' FOR UPDATE' : ''}`,
  );
  return r.rows[0] ? incidentOf(r.rows[0]) : undefined;
}

export async function latestIncident(tx: Queryable): Promise<Incident | undefined> {
  const r = await tx.query<IncidentRow>(
    `SELECT ${INCIDENT_COLUMNS} FROM evidence_locker.incidents ORDER BY id DESC LIMIT 1`,
  );
  return r.rows[0] ? incidentOf(r.rows[0]) : undefined;
}
