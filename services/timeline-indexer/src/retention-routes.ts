/**
 * The tenant's timeline retention window over HTTP (issue #9 item 4): `GET /timeline/retention`
 * (scope `timeline:read`), `PUT /timeline/retention` and `DELETE /timeline/retention` (scope
 * `timeline:admin`). The setting is a row of `timeline.retention_settings` under RLS, so a token
 * reads and changes only its own tenant's; the maintenance worker reads every tenant's at the start
 * of each retention run (retention.ts). Events linked to evidence under a legal hold stay exempt.
 */
import { Type } from '@sinclair/typebox';
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type RoutePlugin } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import type { Tx } from '@stella/platform/db';
import {
  DURATION_PATTERN,
  formatDuration,
  MAX_KEEP_SECONDS,
  MIN_KEEP_SECONDS,
  parseDuration,
  type RetentionPolicy,
} from './retention.js';

const TAG = 'timeline';

const RetentionSchema = Type.Object(
  {
    keep: Type.Union([Type.String(), Type.Null()], {
      description:
        'ISO 8601 duration after occurredAt for which events are kept (days, hours, minutes, seconds: `P30D`, `PT36H`); null: forever.',
    }),
    from: Type.Union([Type.Literal('tenant'), Type.Literal('configuration')], {
      description:
        '`tenant`: set with PUT /timeline/retention; `configuration`: STELLA_TIMELINE_RETENTION_TENANTS or STELLA_TIMELINE_RETENTION_DAYS.',
    }),
    updatedAt: Type.Optional(Type.String({ format: 'date-time' })),
    updatedBy: Type.Optional(Type.String({ description: 'Token subject of the last PUT.' })),
    heldExempt: Type.Literal(true, {
      description: 'Events linked to evidence under a legal hold are kept while the hold lasts.',
    }),
  },
  { $id: 'TimelineRetention', additionalProperties: false },
);

interface View {
  keep: string | null;
  from: 'tenant' | 'configuration';
  updatedAt?: string;
  updatedBy?: string;
  heldExempt: true;
}

async function view(tx: Tx, tenant: string, configured: RetentionPolicy): Promise<View> {
  const r = await tx.query<{ keep_seconds: string | null; updated_at: Date; updated_by: string }>(
    'SELECT keep_seconds::text AS keep_seconds, updated_at, updated_by FROM timeline.retention_settings WHERE tenant_id = $1',
    [tenant],
  );
  const own = r.rows[0];
  if (own)
    return {
      keep: own.keep_seconds === null ? null : formatDuration(Number(own.keep_seconds)),
      from: 'tenant',
      updatedAt: own.updated_at.toISOString(),
      updatedBy: own.updated_by,
      heldExempt: true,
    };
  const days = configured.tenants.get(tenant) ?? configured.defaultDays;
  return { keep: days === 0 ? null : formatDuration(days * 86_400), from: 'configuration', heldExempt: true };
}

/** Seconds of a PUT's `keep`, or a coded 400 saying what is wrong with it. */
function keepSecondsOf(keep: string | null): number | null {
  if (keep === null) return null;
  const seconds = parseDuration(keep);
  const problem =
    seconds === undefined
      ? 'must be an ISO 8601 duration of days, hours, minutes and seconds (P30D, PT36H), or null for forever'
      : seconds < MIN_KEEP_SECONDS
        ? `must be at least ${formatDuration(MIN_KEEP_SECONDS)} (null keeps events forever)`
        : seconds > MAX_KEEP_SECONDS
          ? `must be at most ${formatDuration(MAX_KEEP_SECONDS)} (null keeps events forever)`
          : undefined;
  if (problem)
    throw new StellaError('VALIDATION_FAILED', `/keep ${problem}`, {
      details: { problems: [{ path: '/keep', message: problem }] },
    });
  return seconds!;
}

export function retentionRoutes(deps: ServiceDeps, configured: RetentionPolicy): RoutePlugin {
  return (app) => {
    app.addSchema(RetentionSchema);
    const Ref = Type.Ref(RetentionSchema);

    app.get(
      '/timeline/retention',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: "The tenant's timeline retention window",
          description:
            "How long the tenant's events are kept after their occurredAt: the tenant's own setting if it has one, else the configuration's. Events linked to held evidence are kept while the hold lasts.",
          response: { 200: Ref, ...errorResponses(400, 401, 403) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        return ctx.transaction((tx) => view(tx, ctx.tenant, configured));
      },
    );

    app.put(
      '/timeline/retention',
      {
        config: tenantRoute('timeline:admin'),
        schema: {
          tags: [TAG],
          summary: "Set the tenant's timeline retention window",
          description:
            'Replaces the configured window for this tenant. The maintenance worker applies it on its next round (`STELLA_TIMELINE_MAINTENANCE_SECONDS`): events older than `keep` are purged, except those linked to evidence under a legal hold. `keep` is one hour to 36,500 days, or null for forever; anything else is 400 VALIDATION_FAILED and changes nothing.',
          body: Type.Object(
            {
              keep: Type.Union([Type.String({ pattern: DURATION_PATTERN, maxLength: 40 }), Type.Null()], {
                examples: ['P90D'],
              }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Ref, ...errorResponses(400, 401, 403) },
        },
      },
      async (req) => {
        const seconds = keepSecondsOf(req.body.keep);
        const ctx = deps.tenants.forRequest(req);
        return ctx.transaction(async (tx) => {
          const before = await view(tx, ctx.tenant, configured);
          await tx.query(
            `INSERT INTO timeline.retention_settings (keep_seconds, updated_by) VALUES ($1, $2)
             ON CONFLICT (tenant_id) DO UPDATE SET keep_seconds = EXCLUDED.keep_seconds,
               updated_by = EXCLUDED.updated_by, updated_at = now()`,
            [seconds === null ? null : String(seconds), ctx.principal.subject],
          );
          const after = await view(tx, ctx.tenant, configured);
          await tx.audit({
            action: 'timeline.retention.update',
            resource: 'timeline/retention',
            details: { before: before.keep, after: after.keep, beforeFrom: before.from },
          });
          return after;
        });
      },
    );

    app.delete(
      '/timeline/retention',
      {
        config: tenantRoute('timeline:admin'),
        schema: {
          tags: [TAG],
          summary: "Remove the tenant's own retention window (back to the configuration's)",
          response: { 200: Ref, ...errorResponses(400, 401, 403) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        return ctx.transaction(async (tx) => {
          const removed = await tx.query('DELETE FROM timeline.retention_settings WHERE tenant_id = $1', [ctx.tenant]);
          const after = await view(tx, ctx.tenant, configured);
          await tx.audit({
            action: 'timeline.retention.reset',
            resource: 'timeline/retention',
            details: { removed: (removed.rowCount ?? 0) > 0, after: after.keep },
          });
          return after;
        });
      },
    );
  };
}
