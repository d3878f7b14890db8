/**
 * Retention (docs/evidence/retention.md): `GET|PUT /evidence/retention` (the tenant's policy;
 * changing it needs `evidence:hold`, the legal-hold scope, since it decides what may disappear),
 * `POST /evidence/retention/purge` (one purge pass for the caller's tenant, now), and
 * `GET /evidence/tombstones[/{id}]` (the signed tombstones purges left). RLS scopes all of it:
 * another tenant's tombstone answers 404 like a missing one.
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { BUNDLE_KINDS } from '../bundle/manifest.js';
import { DURATION_PATTERN, parseDuration } from '../retention/duration.js';
import { loadPolicy, policyView } from '../retention/policy.js';
import { purgeTenant } from '../retention/purge.js';
import { TOMBSTONE_COLUMNS, loadTombstone, tombstoneOf, type TombstoneRow } from '../retention/tombstone-view.js';
import { evidenceSettings } from '../settings.js';
import { BUNDLE_ID_PATTERN, BundleIdParams, TAG } from './schemas.js';

const duration = {
  type: 'string',
  pattern: DURATION_PATTERN,
  description: 'ISO 8601 duration of days/hours/minutes/seconds (P30D, PT12H, P1DT6H); > 0.',
  examples: ['P365D'],
} as const;
const nullableDuration = { anyOf: [duration, { type: 'null' }] } as const;
const kindsOf = <S>(schema: S) => Object.fromEntries(BUNDLE_KINDS.map((k) => [k, schema])) as Record<string, S>;

const PolicySchema = {
  type: 'object',
  required: ['version', 'default', 'kinds'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', description: '0: no policy set (bundles are kept forever).' },
    default: { ...nullableDuration, description: 'Kept this long after sealing; null: forever.' },
    kinds: { type: 'object', additionalProperties: false, properties: kindsOf(duration) },
    updatedAt: { type: 'string', format: 'date-time' },
    updatedBy: { type: 'string' },
  },
  examples: [
    {
      version: 3,
      default: 'P365D',
      kinds: { job: 'P90D' },
      updatedAt: '2026-12-01T10:00:00.000Z',
      updatedBy: 'user:legal',
    },
  ],
} as const;

const PolicyBody = {
  type: 'object',
  required: ['default'],
  additionalProperties: false,
  properties: {
    default: nullableDuration,
    kinds: { type: 'object', additionalProperties: false, properties: kindsOf(duration) },
  },
  examples: [{ default: 'P365D', kinds: { job: 'P90D', evaluation: 'P730D' } }],
} as const;

const TombstoneSchema = {
  type: 'object',
  required: [
    'bundleId',
    'kind',
    'rootHash',
    'manifestDigest',
    'archiveDigest',
    'sealedAt',
    'purgedAt',
    'reason',
    'policy',
    'keyId',
    'publicKeyPem',
    'envelope',
    'objectsRemoved',
  ],
  additionalProperties: false,
  properties: {
    bundleId: { type: 'string' },
    kind: { type: 'string' },
    rootHash: { type: 'string' },
    manifestDigest: { type: 'string' },
    archiveDigest: { type: 'string' },
    sealedAt: { type: 'string', format: 'date-time' },
    purgedAt: { type: 'string', format: 'date-time' },
    reason: { type: 'string' },
    policy: {
      type: 'object',
      required: ['version', 'rule', 'keepFor', 'incidentExtension', 'expiresAt'],
      additionalProperties: false,
      properties: {
        version: { type: 'integer' },
        rule: { type: 'string', enum: ['kind', 'default'] },
        keepFor: { type: 'string' },
        incidentExtension: { type: ['string', 'null'] },
        expiresAt: { type: 'string', format: 'date-time' },
      },
    },
    keyId: { type: 'string' },
    publicKeyPem: { type: 'string' },
    envelope: {
      type: 'object',
      description: 'DSSE envelope over the in-toto tombstone statement (docs/evidence/retention.md).',
      additionalProperties: true,
    },
    objectsRemoved: { type: 'boolean', description: "false until the bundle's objects are gone from the store." },
  },
} as const;

const PurgeResultSchema = {
  type: 'object',
  required: ['purged', 'expiredHolds', 'finished', 'pending'],
  additionalProperties: false,
  properties: {
    purged: {
      type: 'array',
      items: {
        type: 'object',
        required: ['bundleId', 'rootHash'],
        additionalProperties: false,
        properties: { bundleId: { type: 'string' }, rootHash: { type: 'string' } },
      },
    },
    expiredHolds: { type: 'array', items: { type: 'string' } },
    finished: { type: 'integer' },
    pending: { type: 'integer' },
  },
} as const;

interface PolicyBodyValue {
  default: string | null;
  kinds?: Record<string, string>;
}

/** Seconds of a schema-checked duration; a zero one ("PT0S") is refused here. */
function secondsOf(text: string, pointer: string): number {
  const s = parseDuration(text);
  if (s === undefined)
    throw new StellaError('VALIDATION_FAILED', `${pointer} must be a positive duration`, {
      details: { problems: [{ path: pointer, message: 'must be a positive duration' }] },
    });
  return s;
}

export function retentionRoutes(deps: ServiceDeps) {
  const settings = evidenceSettings(deps.settings);
  return (app: StellaApp) => {
    app.get(
      '/evidence/retention',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "The tenant's retention policy (version 0: none, bundles are kept forever)",
          response: { 200: PolicySchema, ...errorResponses(400) },
        },
      },
      async (req) => policyView(await deps.tenants.forRequest(req).transaction((tx) => loadPolicy(tx))),
    );

    app.put(
      '/evidence/retention',
      {
        config: tenantRoute('evidence:hold'),
        schema: {
          tags: [TAG],
          summary: "Replace the tenant's retention policy (a default and per-kind durations)",
          description:
            "Unheld bundles are purged once older than their kind's duration (else the default; null: never), " +
            'plus STELLA_EVIDENCE_INCIDENT_RETENTION_EXTENSION while incident mode is active. Held bundles never are.',
          body: PolicyBody,
          response: { 200: PolicySchema, ...errorResponses(400) },
        },
      },
      async (req) => {
        const body = req.body as PolicyBodyValue;
        const def = body.default === null ? null : secondsOf(body.default, '/default');
        const kinds = Object.fromEntries(
          Object.entries(body.kinds ?? {}).map(([k, v]) => [k, secondsOf(v, `/kinds/${k}`)]),
        );
        const ctx = deps.tenants.forRequest(req);
        const policy = await ctx.transaction(async (tx) => {
          const before = await loadPolicy(tx);
          await tx.query(
            `INSERT INTO evidence_locker.retention_policies (default_keep_seconds, kind_keep_seconds, updated_by, version)
             VALUES ($1, $2::jsonb, $3, 1)
             ON CONFLICT (tenant_id) DO UPDATE SET default_keep_seconds = EXCLUDED.default_keep_seconds,
               kind_keep_seconds = EXCLUDED.kind_keep_seconds, updated_by = EXCLUDED.updated_by, updated_at = now(),
               version = evidence_locker.retention_policies.version + 1`,
            [def, JSON.stringify(kinds), ctx.principal.subject],
          );
          const after = (await loadPolicy(tx))!;
          const view = policyView(after);
          await tx.audit({
            action: 'evidence.retention.update',
            resource: `retention-policy/v${after.version}`,
            details: { before: policyView(before), after: view },
          });
          await tx.publish({
            kind: 'evidence.retention.updated',
            subject: `retention-policy/v${after.version}`,
            attributes: { version: after.version, default: view.default ?? 'forever' },
            payload: view,
          });
          return view;
        });
        return policy;
      },
    );

    app.post(
      '/evidence/retention/purge',
      {
        config: tenantRoute('evidence:hold'),
        schema: {
          tags: [TAG],
          summary: 'Run one purge pass for this tenant now (what the purge worker does on its interval)',
          response: { 200: PurgeResultSchema, ...errorResponses(400) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const r = await purgeTenant({
          tenant: ctx.tenant,
          actor: ctx.principal.subject,
          requestId: ctx.requestId,
          transaction: (fn) => ctx.transaction(fn),
          store: deps.store,
          signingKey: deps.signingKey,
          incidentExtensionSeconds: settings.incidentExtensionSeconds,
        });
        return { ...r, purged: r.purged.map((p) => ({ bundleId: p.bundleId, rootHash: p.rootHash })) };
      },
    );

    app.get(
      '/evidence/tombstones',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'Signed tombstones of purged bundles, newest bundle first (keyset pagination)',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
              cursor: { type: 'string', pattern: BUNDLE_ID_PATTERN, description: '`nextCursor` of the previous page.' },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: TombstoneSchema }, nextCursor: { type: 'string' } },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const { limit, cursor } = req.query as { limit: number; cursor?: string };
        const rows = await deps.tenants.forRequest(req).transaction(
          async (tx) =>
            (
              await tx.query<TombstoneRow>(
                `SELECT ${TOMBSTONE_COLUMNS} FROM evidence_locker.tombstones
                 WHERE ($1::text IS NULL OR bundle_id < $1) ORDER BY bundle_id DESC LIMIT $2`,
                [cursor ?? null, limit + 1],
              )
            ).rows,
        );
        const page = rows.slice(0, limit);
        return {
          items: page.map(tombstoneOf),
          ...(rows.length > limit ? { nextCursor: page[page.length - 1]!.bundle_id } : {}),
        };
      },
    );

    app.get(
      '/evidence/tombstones/:id',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'The signed tombstone of one purged bundle',
          params: BundleIdParams,
          response: { 200: TombstoneSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const row = await deps.tenants.forRequest(req).transaction((tx) => loadTombstone(tx, id));
        if (!row)
          throw new StellaError('EVIDENCE_NOT_FOUND', `no tombstone for bundle ${id}`, { details: { bundleId: id } });
        return tombstoneOf(row);
      },
    );
  };
}
