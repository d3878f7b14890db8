/**
 * Export retention routes (issue #11 §2; docs/export/retention.md):
 * - `PUT|GET|DELETE /v1/exports/profiles/{id}/retention` — the profile's keep-last-N / max-age
 *   policy (`export:profile:manage` to write, `export:read` to read);
 * - `POST /v1/exports/retention/prune` — run the pruning pass now for the caller's tenant
 *   (`export:profile:manage`);
 * - `GET /v1/exports/retention/pruned` — what was pruned (`export:read`);
 * - `POST|DELETE /v1/exports/runs/{id}/hold` — a legal hold on a run, which retention never
 *   removes. Scope `evidence:hold`: the platform's one legal-hold scope (ADR 0020), whichever
 *   service keeps the data.
 * Every write is audited; RLS keeps tenants apart (another tenant's ids answer 404).
 */
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { StellaError } from '@stella/core/errors';
import { DURATION_PATTERN, parseDuration } from '../duration.js';
import { exportMetrics } from '../metrics.js';
import { getProfile } from '../profiles/profile.repository.js';
import { pruneTenant } from '../retention/prune.js';
import {
  deletePolicy,
  getPolicy,
  holdView,
  listPruned,
  placeHold,
  policyView,
  prunedView,
  putPolicy,
  releaseHold,
  retentionNotSet,
  type RetentionPolicy,
} from '../retention/retention.repository.js';
import { ID_PATTERN, IdParams, TAG } from './schemas.js';
import { rethrowNonBodyValidation } from './profiles.js';

const PolicySchema = {
  type: 'object',
  required: ['profileId', 'updatedAt', 'updatedBy'],
  additionalProperties: false,
  properties: {
    profileId: { type: 'string' },
    keepLast: { type: 'integer' },
    maxAge: { type: 'string' },
    updatedAt: { type: 'string', format: 'date-time' },
    updatedBy: { type: 'string' },
  },
} as const;

const PolicyBodySchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'At least one of: `keepLast` (the N newest finished runs of the profile stay), `maxAge` (finished runs older than this go). A run is pruned when either says so, never while held.',
  properties: {
    keepLast: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    maxAge: {
      type: 'string',
      pattern: DURATION_PATTERN,
      description: 'ISO 8601 duration in days, hours, minutes, seconds (e.g. `P30D`).',
    },
  },
  examples: [{ keepLast: 10, maxAge: 'P90D' }],
} as const;

const HoldSchema = {
  type: 'object',
  required: ['runId', 'reason', 'createdAt', 'createdBy'],
  additionalProperties: false,
  properties: {
    runId: { type: 'string' },
    reason: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
  },
} as const;

const PrunedSchema = {
  type: 'object',
  required: ['runId', 'profile', 'status', 'reason', 'policy', 'prunedAt', 'prunedBy', 'objectsDeleted'],
  additionalProperties: false,
  properties: {
    runId: { type: 'string' },
    profile: {
      type: 'object',
      required: ['id', 'version'],
      additionalProperties: false,
      properties: { id: { type: 'string' }, version: { type: 'integer' } },
    },
    status: { type: 'string' },
    archiveDigest: { type: 'string' },
    manifestDigest: { type: 'string' },
    reason: { type: 'string', enum: ['keepLast', 'maxAge'] },
    policy: { type: 'object', additionalProperties: true },
    prunedAt: { type: 'string', format: 'date-time' },
    prunedBy: { type: 'string' },
    objectsDeleted: {
      type: 'boolean',
      description: 'False until the run’s objects are gone (deleted after the rows).',
    },
  },
} as const;

/** Validates a policy body; every problem in one EXPORT_RETENTION_INVALID. */
function validatePolicy(body: unknown): RetentionPolicy {
  const problems: { path: string; message: string }[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new StellaError('EXPORT_RETENTION_INVALID', 'the retention policy must be an object', {
      details: { problems: [{ path: '', message: 'must be an object' }] },
    });
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b))
    if (k !== 'keepLast' && k !== 'maxAge') problems.push({ path: `/${k}`, message: 'is not a retention field' });
  const out: RetentionPolicy = {};
  if (b.keepLast !== undefined) {
    if (!Number.isInteger(b.keepLast) || (b.keepLast as number) < 1 || (b.keepLast as number) > 1_000_000)
      problems.push({ path: '/keepLast', message: 'must be an integer from 1 to 1000000' });
    else out.keepLast = b.keepLast as number;
  }
  if (b.maxAge !== undefined) {
    const s = parseDuration(b.maxAge);
    if (s === undefined)
      problems.push({
        path: '/maxAge',
        message: 'must be a positive ISO 8601 duration in days, hours, minutes or seconds (e.g. P30D)',
      });
    else out.maxAgeSeconds = s;
  }
  if (b.keepLast === undefined && b.maxAge === undefined)
    problems.push({ path: '', message: 'needs `keepLast`, `maxAge` or both' });
  if (problems.length)
    throw new StellaError(
      'EXPORT_RETENTION_INVALID',
      `the retention policy is invalid: ${problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`,
      { details: { problems } },
    );
  return out;
}

export function retentionRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    app.put(
      '/v1/exports/profiles/:id/retention',
      {
        config: tenantRoute('export:profile:manage'),
        attachValidation: true,
        schema: {
          tags: [TAG],
          summary: "Set a profile's retention: keep the last N finished runs and/or none older than a max age",
          params: IdParams,
          body: PolicyBodySchema,
          response: { 200: PolicySchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        rethrowNonBodyValidation(req);
        const { id } = req.params as { id: string };
        const policy = validatePolicy(req.body);
        const ctx = deps.tenants.forRequest(req);
        return ctx.transaction(async (tx) => {
          await getProfile(tx, id);
          const row = await putPolicy(tx, id, policy, ctx.principal.subject);
          const view = policyView(row);
          await tx.audit({ action: 'export.retention.set', resource: id, details: view });
          return view;
        });
      },
    );

    app.get(
      '/v1/exports/profiles/:id/retention',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: "A profile's retention policy (404 when it has none: runs are kept forever)",
          params: IdParams,
          response: { 200: PolicySchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        return deps.tenants.forRequest(req).transaction(async (tx) => {
          await getProfile(tx, id);
          const row = await getPolicy(tx, id);
          if (!row) throw retentionNotSet(id);
          return policyView(row);
        });
      },
    );

    app.delete(
      '/v1/exports/profiles/:id/retention',
      {
        config: tenantRoute('export:profile:manage'),
        schema: {
          tags: [TAG],
          summary: "Remove a profile's retention policy (its runs are kept from now on)",
          params: IdParams,
          response: { 204: { description: 'Removed', type: 'null' }, ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        await ctx.transaction(async (tx) => {
          await getProfile(tx, id);
          if (!(await deletePolicy(tx, id))) throw retentionNotSet(id);
          await tx.audit({ action: 'export.retention.remove', resource: id });
        });
        return reply.status(204).send();
      },
    );

    app.post(
      '/v1/exports/retention/prune',
      {
        config: tenantRoute('export:profile:manage'),
        schema: {
          tags: [TAG],
          summary: "Prune the tenant's runs past their profiles' retention now (held runs stay)",
          response: {
            200: {
              type: 'object',
              required: ['pruned', 'objectsDeleted'],
              additionalProperties: false,
              properties: {
                pruned: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['runId', 'profileId', 'reason'],
                    additionalProperties: false,
                    properties: {
                      runId: { type: 'string' },
                      profileId: { type: 'string' },
                      reason: { type: 'string', enum: ['keepLast', 'maxAge'] },
                    },
                  },
                },
                objectsDeleted: { type: 'integer' },
              },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        return pruneTenant(
          { db: deps.db, store: deps.store, log: deps.log, metrics: exportMetrics(deps.metrics) },
          ctx.tenant,
          { actor: ctx.principal.subject },
        );
      },
    );

    app.get(
      '/v1/exports/retention/pruned',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'Runs removed by retention, newest first: what they were, why, under which policy',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
              before: { type: 'string', pattern: ID_PATTERN, description: 'Run id: list older ones (keyset).' },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: PrunedSchema } },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const q = req.query as { limit: number; before?: string };
        const rows = await deps.tenants.forRequest(req).transaction((tx) => listPruned(tx, q));
        return { items: rows.map(prunedView) };
      },
    );

    app.post(
      '/v1/exports/runs/:id/hold',
      {
        config: tenantRoute('evidence:hold'),
        schema: {
          tags: [TAG],
          summary: 'Place a legal hold on an export run: retention never removes it while held',
          params: IdParams,
          body: {
            type: 'object',
            required: ['reason'],
            additionalProperties: false,
            properties: { reason: { type: 'string', minLength: 1, maxLength: 2000 } },
          },
          response: { 201: HoldSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const { reason } = req.body as { reason: string };
        const ctx = deps.tenants.forRequest(req);
        const hold = await ctx.transaction(async (tx) => {
          const h = await placeHold(tx, id, reason, ctx.principal.subject);
          await tx.audit({ action: 'export.hold.place', resource: id, details: { reason } });
          return holdView(h);
        });
        return reply.status(201).send(hold);
      },
    );

    app.delete(
      '/v1/exports/runs/:id/hold',
      {
        config: tenantRoute('evidence:hold'),
        schema: {
          tags: [TAG],
          summary: "Release an export run's legal hold (retention applies to it again)",
          params: IdParams,
          response: { 204: { description: 'Released', type: 'null' }, ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        await ctx.transaction(async (tx) => {
          const h = await releaseHold(tx, id);
          await tx.audit({
            action: 'export.hold.release',
            resource: id,
            details: { reason: h.reason, placedBy: h.created_by, placedAt: h.created_at.toISOString() },
          });
        });
        return reply.status(204).send();
      },
    );
  };
}
