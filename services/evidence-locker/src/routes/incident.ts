/**
 * Incident mode (issue #8 item 7; docs/evidence/incident-mode.md): `POST /evidence/incident`
 * activates or deactivates it for the caller's tenant with a reason (scope `ops:incident`);
 * `GET /evidence/incident` is its status. While active, retention is extended by
 * STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION and snapshots capture debug artefacts
 * (src/incident/debug-artifacts.ts). Each change is a custody record and goes out as
 * `evidence.incident.activated|deactivated` (Timeline Indexer) and as
 * `notify.evidence.incident.activated|deactivated`, which the bus publishes on
 * `stella.events.notify.evidence.incident.*` — the notifier's subjects (docs/events.md: subject =
 * `stella.events.<kind>`).
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { recordCustody } from '../custody.js';
import { activeIncident, latestIncident, type Incident } from '../incident/incident.js';
import { formatDuration } from '../retention/duration.js';
import { evidenceSettings } from '../settings.js';
import { TAG } from './schemas.js';

const IncidentSchema = {
  type: 'object',
  required: ['id', 'reason', 'activatedAt', 'activatedBy'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    reason: { type: 'string' },
    activatedAt: { type: 'string', format: 'date-time' },
    activatedBy: { type: 'string' },
    deactivatedAt: { type: 'string', format: 'date-time' },
    deactivatedBy: { type: 'string' },
    deactivateReason: { type: 'string' },
  },
} as const;

const StatusSchema = {
  type: 'object',
  required: ['active', 'retentionExtension'],
  additionalProperties: false,
  properties: {
    active: { type: 'boolean' },
    retentionExtension: { type: 'string', description: 'Added to every retention period while active.' },
    incident: { ...IncidentSchema, description: 'The active incident, else the last one (if any).' },
  },
  examples: [
    {
      active: true,
      retentionExtension: 'P30D',
      incident: {
        id: '1',
        reason: 'INC-42 token leak',
        activatedAt: '2026-12-03T12:00:00.000Z',
        activatedBy: 'user:oncall',
      },
    },
  ],
} as const;

function incidentView(i: Incident) {
  return {
    id: i.id,
    reason: i.reason,
    activatedAt: i.activatedAt.toISOString(),
    activatedBy: i.activatedBy,
    ...(i.deactivatedAt
      ? {
          deactivatedAt: i.deactivatedAt.toISOString(),
          deactivatedBy: i.deactivatedBy ?? '',
          deactivateReason: i.deactivateReason ?? '',
        }
      : {}),
  };
}

export function incidentRoutes(deps: ServiceDeps) {
  const extension = formatDuration(evidenceSettings(deps.settings).incidentExtensionSeconds);
  const status = (i: Incident | undefined) => ({
    active: i !== undefined && i.deactivatedAt === undefined,
    retentionExtension: extension,
    ...(i ? { incident: incidentView(i) } : {}),
  });
  return (app: StellaApp) => {
    app.get(
      '/evidence/incident',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "The tenant's incident mode status",
          response: { 200: StatusSchema, ...errorResponses(400) },
        },
      },
      async (req) => status(await deps.tenants.forRequest(req).transaction((tx) => latestIncident(tx))),
    );

    app.post(
      '/evidence/incident',
      {
        config: tenantRoute('ops:incident'),
        schema: {
          tags: [TAG],
          summary: 'Activate or deactivate incident mode for this tenant (reason required)',
          body: {
            type: 'object',
            required: ['active', 'reason'],
            additionalProperties: false,
            properties: {
              active: { type: 'boolean' },
              reason: { type: 'string', minLength: 1, maxLength: 2000 },
            },
            examples: [{ active: true, reason: 'INC-42: suspected token leak' }],
          },
          response: { 200: StatusSchema, ...errorResponses(400, 409) },
        },
      },
      async (req) => {
        const { active, reason } = req.body as { active: boolean; reason: string };
        const ctx = deps.tenants.forRequest(req);
        const incident = await ctx.transaction(async (tx) => {
          const current = await activeIncident(tx, true);
          if (active && current)
            throw new StellaError(
              'CONFLICT',
              `incident mode is already active (since ${current.activatedAt.toISOString()})`,
              {
                details: { incidentId: current.id },
              },
            );
          if (!active && !current) throw new StellaError('CONFLICT', 'incident mode is not active', {});
          let id: string;
          if (active) {
            const r = await tx.query<{ id: string }>(
              'INSERT INTO evidence_locker.incidents (reason, activated_by) VALUES ($1, $2) RETURNING id::text AS id',
              [reason, ctx.principal.subject],
            );
            id = r.rows[0]!.id;
          } else {
            id = current!.id;
            await tx.query(
              `UPDATE evidence_locker.incidents SET deactivated_at = now(), deactivated_by = $2, deactivate_reason = $3
               WHERE id = $1::bigint`,
              [id, ctx.principal.subject, reason],
            );
          }
          const change = active ? 'activated' : 'deactivated';
          const details = { incidentId: id, reason, retentionExtension: extension };
          await recordCustody(tx, {
            action: `incident-${change}`,
            actor: ctx.principal.subject,
            requestId: ctx.requestId,
            details,
          });
          await tx.audit({
            action: `evidence.incident.${active ? 'activate' : 'deactivate'}`,
            resource: `incident/${id}`,
            details,
          });
          const event = { subject: `incident/${id}`, attributes: { incidentId: id, active }, payload: details };
          await tx.publish({ kind: `evidence.incident.${change}`, ...event });
          // The notifier listens on stella.events.notify.* : the same facts, its own kind.
          await tx.publish({ kind: `notify.evidence.incident.${change}`, ...event });
          return (await latestIncident(tx))!;
        });
        return status(incident);
      },
    );
  };
}
