/**
 * `/v1/exports/profiles` CRUD (issue #10 §7). Versioned: PUT writes a new version, DELETE hides
 * the profile (runs that pinned a version keep it). RLS scopes every query to the caller's
 * tenant, so another tenant's profile is EXPORT_PROFILE_NOT_FOUND exactly like a missing one.
 *
 * The body is checked by `validateProfile` (every problem at once), not by the route's schema
 * validator, which would stop at the first problem: `attachValidation` hands a body problem to the
 * handler, which ignores it in favour of the full list (params and query still fail as usual).
 */
import type { FastifyRequest } from 'fastify';
import { monotonicFactory } from 'ulid';
import type { JsonValue } from '@stella/core/canonical-json';
import {
  errorResponses,
  idempotent,
  IdempotencyKeyHeaderSchema,
  tenantRoute,
  type StellaApp,
} from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { validateProfile, type AdapterLookup } from '../profiles/profile.js';
import {
  createProfile,
  getProfile,
  listProfiles,
  profileVersions,
  removeProfile,
  updateProfile,
} from '../profiles/profile.repository.js';
import { IdParams, ProfileBodySchema, ProfileSchema, TAG } from './schemas.js';

const ulid = monotonicFactory();
export const IDEMPOTENCY_TABLE = 'export_center.idempotency_keys';

/** Rethrows a params/query/header validation error; a body problem is left to validateProfile. */
export function rethrowNonBodyValidation(req: FastifyRequest): void {
  const err = req.validationError as (Error & { validationContext?: string }) | undefined;
  if (err && err.validationContext !== 'body') throw err;
}

const ProfileList = {
  type: 'object',
  required: ['items'],
  additionalProperties: false,
  properties: { items: { type: 'array', items: ProfileSchema } },
} as const;

export function profileRoutes(deps: ServiceDeps, adapters: AdapterLookup) {
  return (app: StellaApp) => {
    app.post(
      '/v1/exports/profiles',
      {
        config: tenantRoute('export:profile:manage'),
        attachValidation: true,
        schema: {
          tags: [TAG],
          summary: 'Create an export profile (version 1)',
          headers: { type: 'object', properties: { 'idempotency-key': IdempotencyKeyHeaderSchema } },
          body: ProfileBodySchema,
          response: { 201: ProfileSchema, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => {
        rethrowNonBodyValidation(req);
        const spec = validateProfile(req.body, adapters);
        const ctx = deps.tenants.forRequest(req);
        const res = await ctx.transaction((tx) =>
          idempotent(
            tx,
            {
              table: IDEMPOTENCY_TABLE,
              route: 'POST /v1/exports/profiles',
              key: req.headers['idempotency-key'] as string | undefined,
              request: req.body as JsonValue,
            },
            async () => {
              const profile = await createProfile(tx, ulid(), spec, ctx.principal.subject);
              await tx.audit({
                action: 'export.profile.create',
                resource: profile.id,
                details: { name: spec.name, adapter: spec.adapter },
              });
              return { statusCode: 201, body: profile as unknown as JsonValue };
            },
          ),
        );
        if (res.replayed) reply.header('idempotent-replayed', 'true');
        return reply.status(res.statusCode as 201).send(res.body);
      },
    );

    app.get(
      '/v1/exports/profiles',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'List export profiles (latest versions), by name',
          response: { 200: ProfileList, ...errorResponses(400) },
        },
      },
      async (req) => ({ items: await deps.tenants.forRequest(req).transaction((tx) => listProfiles(tx)) }),
    );

    app.get(
      '/v1/exports/profiles/:id',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'One export profile: the latest version, or `?version=n`',
          params: IdParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { version: { type: 'integer', minimum: 1 } },
          },
          response: { 200: ProfileSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const { version } = req.query as { version?: number };
        return deps.tenants.forRequest(req).transaction(async (tx) => {
          // A pinned version of a deleted profile is still readable only when asked for by number
          // and the profile is live; otherwise the profile is gone for the API.
          if (version !== undefined) await getProfile(tx, id);
          return getProfile(tx, id, version);
        });
      },
    );

    app.get(
      '/v1/exports/profiles/:id/versions',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'Every version of an export profile, oldest first',
          params: IdParams,
          response: { 200: ProfileList, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        return { items: await deps.tenants.forRequest(req).transaction((tx) => profileVersions(tx, id)) };
      },
    );

    app.put(
      '/v1/exports/profiles/:id',
      {
        config: tenantRoute('export:profile:manage'),
        attachValidation: true,
        schema: {
          tags: [TAG],
          summary: 'Update an export profile: writes version n+1 (runs keep the version they pinned)',
          params: IdParams,
          body: ProfileBodySchema,
          response: { 200: ProfileSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        rethrowNonBodyValidation(req);
        const { id } = req.params as { id: string };
        const spec = validateProfile(req.body, adapters);
        const ctx = deps.tenants.forRequest(req);
        return ctx.transaction(async (tx) => {
          const profile = await updateProfile(tx, id, spec, ctx.principal.subject);
          await tx.audit({ action: 'export.profile.update', resource: id, details: { version: profile.version } });
          return profile;
        });
      },
    );

    app.delete(
      '/v1/exports/profiles/:id',
      {
        config: tenantRoute('export:profile:manage'),
        schema: {
          tags: [TAG],
          summary: 'Delete an export profile (its versions stay for the runs that pinned them)',
          params: IdParams,
          response: { 204: { description: 'Deleted', type: 'null' }, ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        await ctx.transaction(async (tx) => {
          await removeProfile(tx, id);
          await tx.audit({ action: 'export.profile.delete', resource: id });
        });
        return reply.status(204).send();
      },
    );
  };
}
