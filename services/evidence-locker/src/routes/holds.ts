/**
 * Legal holds: `POST /evidence/hold/{caseId}` (place, or add bundles to an active hold),
 * `DELETE /evidence/hold/{caseId}` (release; a reason is required) and `GET /evidence/holds`.
 * Several named holds may cover one bundle; it stays held — in the database and as an object-store
 * legal hold on its archive (WORM) — until the last of them is released.
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps, TenantTx } from '@stella/platform/service';
import { BUNDLE_ID_PATTERN, TAG } from './schemas.js';
import { recordCustody } from '../custody.js';
import { enqueueHoldEntries } from '../log/log-entries.js';

const CASE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
const reason = { type: 'string', minLength: 1, maxLength: 2000 } as const;
const CaseParams = {
  type: 'object',
  required: ['caseId'],
  additionalProperties: false,
  properties: { caseId: { type: 'string', pattern: CASE_ID_PATTERN } },
} as const;

const HoldSchema = {
  type: 'object',
  required: ['caseId', 'reason', 'createdAt', 'createdBy', 'active', 'bundleIds'],
  additionalProperties: false,
  properties: {
    caseId: { type: 'string' },
    reason: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    endsAt: { type: 'string', format: 'date-time' },
    active: { type: 'boolean' },
    releasedAt: { type: 'string', format: 'date-time' },
    releasedBy: { type: 'string' },
    releaseReason: { type: 'string' },
    bundleIds: { type: 'array', items: { type: 'string' } },
  },
} as const;

interface HoldRow {
  [k: string]: unknown;
  case_id: string;
  reason: string;
  created_at: Date | string;
  created_by: string;
  ends_at: Date | string | null;
  released_at: Date | string | null;
  released_by: string | null;
  release_reason: string | null;
  bundle_ids: string[] | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

function holdOf(row: HoldRow) {
  return {
    caseId: row.case_id,
    reason: row.reason,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
    ...(row.ends_at ? { endsAt: iso(row.ends_at) } : {}),
    // An endsAt that passed no longer protects, even before the purge worker records the expiry.
    active: row.released_at === null && (row.ends_at === null || new Date(row.ends_at).getTime() > Date.now()),
    ...(row.released_at ? { releasedAt: iso(row.released_at), releasedBy: row.released_by ?? '' } : {}),
    ...(row.release_reason ? { releaseReason: row.release_reason } : {}),
    bundleIds: [...(row.bundle_ids ?? [])].sort(),
  };
}

const HOLD_SELECT = `SELECT h.case_id, h.reason, h.created_at, h.created_by, h.ends_at, h.released_at, h.released_by,
  h.release_reason, (SELECT array_agg(m.bundle_id) FROM evidence_locker.hold_bundles m WHERE m.case_id = h.case_id) AS bundle_ids
  FROM evidence_locker.holds h`;

async function loadHold(tx: TenantTx, caseId: string): Promise<HoldRow | undefined> {
  return (await tx.query<HoldRow>(`${HOLD_SELECT} WHERE h.case_id = $1`, [caseId])).rows[0];
}

async function custody(
  tx: TenantTx,
  bundleIds: readonly string[],
  action: 'hold' | 'release',
  actor: string,
  requestId: string,
  details: Record<string, unknown>,
) {
  for (const bundleId of bundleIds) await recordCustody(tx, { action, bundleId, actor, requestId, details });
}

export function holdRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    app.post(
      '/evidence/hold/:caseId',
      {
        config: tenantRoute('evidence:hold'),
        schema: {
          tags: [TAG],
          summary: 'Place a legal hold on bundles (by id and/or by filter); adds to an active hold of that case',
          params: CaseParams,
          body: {
            type: 'object',
            required: ['reason'],
            additionalProperties: false,
            properties: {
              reason,
              bundleIds: { type: 'array', maxItems: 10_000, items: { type: 'string', pattern: BUNDLE_ID_PATTERN } },
              filter: {
                type: 'object',
                additionalProperties: false,
                minProperties: 1,
                properties: {
                  kind: { type: 'string', enum: ['evaluation', 'job', 'export'] },
                  subjectDigest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
                },
              },
              endsAt: { type: 'string', format: 'date-time' },
            },
          },
          response: { 200: HoldSchema, 201: HoldSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => {
        const { caseId } = req.params as { caseId: string };
        const body = req.body as {
          reason: string;
          bundleIds?: string[];
          filter?: { kind?: string; subjectDigest?: string };
          endsAt?: string;
        };
        if (!body.bundleIds?.length && !body.filter)
          throw new StellaError('VALIDATION_FAILED', 'a hold needs bundleIds or a filter', { details: { caseId } });
        // A hold that has already ended would protect nothing (expired holds do not; docs/evidence/retention.md).
        if (body.endsAt && Date.parse(body.endsAt) <= Date.now())
          throw new StellaError('VALIDATION_FAILED', 'endsAt must be in the future', {
            details: { problems: [{ path: '/endsAt', message: 'must be in the future' }] },
          });
        const ctx = deps.tenants.forRequest(req);
        const { hold, created, archives } = await ctx.transaction(async (tx) => {
          const existing = await loadHold(tx, caseId);
          if (existing?.released_at)
            throw new StellaError('CONFLICT', `hold ${caseId} was released; use a new case id`, {
              details: { caseId },
            });
          if (existing?.ends_at && new Date(existing.ends_at).getTime() <= Date.now())
            throw new StellaError('CONFLICT', `hold ${caseId} ended at ${iso(existing.ends_at)}; use a new case id`, {
              details: { caseId },
            });
          const ids = new Set(body.bundleIds ?? []);
          // Named bundles must all be this tenant's: one foreign or missing id refuses the whole hold.
          const named = await tx.query<{ bundle_id: string }>(
            // FOR KEY SHARE: a concurrent purge (FOR UPDATE) of these bundles waits, or skips them.
            'SELECT bundle_id FROM evidence_locker.bundles WHERE bundle_id = ANY($1::text[]) FOR KEY SHARE',
            [[...ids]],
          );
          const found = new Set(named.rows.map((r) => r.bundle_id));
          const missing = [...ids].filter((id) => !found.has(id)).sort();
          if (missing.length)
            throw new StellaError('EVIDENCE_NOT_FOUND', `no evidence bundle ${missing.join(', ')}`, {
              details: { bundleIds: missing },
            });
          if (body.filter) {
            const r = await tx.query<{ bundle_id: string }>(
              `SELECT bundle_id FROM evidence_locker.bundles
               WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR subject_digest = $2) FOR KEY SHARE`,
              [body.filter.kind ?? null, body.filter.subjectDigest ?? null],
            );
            for (const row of r.rows) ids.add(row.bundle_id);
          }
          if (!existing)
            await tx.query(
              'INSERT INTO evidence_locker.holds (case_id, reason, created_by, ends_at) VALUES ($1, $2, $3, $4)',
              [caseId, body.reason, ctx.principal.subject, body.endsAt ? new Date(body.endsAt) : null],
            );
          const inserted = await tx.query<{ bundle_id: string }>(
            `INSERT INTO evidence_locker.hold_bundles (case_id, bundle_id) SELECT $1, unnest($2::text[])
             ON CONFLICT DO NOTHING RETURNING bundle_id`,
            [caseId, [...ids]],
          );
          const newly = inserted.rows.map((r) => r.bundle_id).sort();
          await custody(tx, newly, 'hold', ctx.principal.subject, ctx.requestId, { caseId, reason: body.reason });
          await enqueueHoldEntries(tx, 'hold', caseId, newly);
          await tx.audit({
            action: 'evidence.hold',
            resource: caseId,
            details: { bundles: newly.length, reason: body.reason },
          });
          await tx.publish({
            kind: 'evidence.hold.placed',
            subject: caseId,
            attributes: { caseId, bundles: newly.length },
            payload: { bundleIds: newly, reason: body.reason },
          });
          const keys = await tx.query<{ archive_key: string }>(
            'SELECT archive_key FROM evidence_locker.bundles WHERE bundle_id = ANY($1::text[])',
            [newly],
          );
          return {
            hold: (await loadHold(tx, caseId))!,
            created: !existing,
            archives: keys.rows.map((r) => r.archive_key),
          };
        });
        // WORM: the archives are held in the store too (over-protective if this fails half-way,
        // never under-protective: the database rows above are what purge and release read).
        for (const key of archives) await deps.store.setLegalHold(key, true);
        return reply.status(created ? 201 : 200).send(holdOf(hold));
      },
    );

    app.delete(
      '/evidence/hold/:caseId',
      {
        config: tenantRoute('evidence:hold'),
        schema: {
          tags: [TAG],
          summary: 'Release a legal hold (reason required); bundles no other hold covers are released in the store too',
          params: CaseParams,
          body: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason } },
          response: { 200: HoldSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => {
        const { caseId } = req.params as { caseId: string };
        const { reason: why } = req.body as { reason: string };
        const ctx = deps.tenants.forRequest(req);
        const { hold, unheld } = await ctx.transaction(async (tx) => {
          const existing = await loadHold(tx, caseId);
          if (!existing) throw new StellaError('EVIDENCE_NOT_FOUND', `no hold ${caseId}`, { details: { caseId } });
          if (existing.released_at)
            throw new StellaError('CONFLICT', `hold ${caseId} is already released`, { details: { caseId } });
          await tx.query(
            `UPDATE evidence_locker.holds SET released_at = now(), released_by = $2, release_reason = $3 WHERE case_id = $1`,
            [caseId, ctx.principal.subject, why],
          );
          const covered = existing.bundle_ids ?? [];
          await custody(tx, covered, 'release', ctx.principal.subject, ctx.requestId, { caseId, reason: why });
          await enqueueHoldEntries(tx, 'release', caseId, covered);
          // Bundles that no other active hold covers any more.
          const free = await tx.query<{ archive_key: string }>(
            `SELECT b.archive_key FROM evidence_locker.bundles b WHERE b.bundle_id = ANY($1::text[])
             AND NOT EXISTS (SELECT 1 FROM evidence_locker.hold_bundles m JOIN evidence_locker.holds h ON h.case_id = m.case_id
                             WHERE m.bundle_id = b.bundle_id AND h.released_at IS NULL)`,
            [covered],
          );
          await tx.audit({ action: 'evidence.release', resource: caseId, details: { reason: why } });
          await tx.publish({
            kind: 'evidence.hold.released',
            subject: caseId,
            attributes: { caseId, bundles: covered.length },
            payload: { bundleIds: [...covered].sort(), reason: why },
          });
          return { hold: (await loadHold(tx, caseId))!, unheld: free.rows.map((r) => r.archive_key) };
        });
        for (const key of unheld) await deps.store.setLegalHold(key, false);
        return holdOf(hold);
      },
    );

    app.get(
      '/evidence/holds',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "The tenant's legal holds, active and released",
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { active: { type: 'boolean' } },
          },
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: HoldSchema } },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const { active } = req.query as { active?: boolean };
        const where =
          active === undefined
            ? ''
            : // Active as holdOf says: unreleased and its endsAt (if any) not yet passed.
              `WHERE ${active ? '' : 'NOT '}(h.released_at IS NULL AND (h.ends_at IS NULL OR h.ends_at > now()))`;
        const rows = await deps.tenants
          .forRequest(req)
          .transaction(async (tx) => (await tx.query<HoldRow>(`${HOLD_SELECT} ${where} ORDER BY h.case_id`)).rows);
        return { items: rows.map(holdOf) };
      },
    );
  };
}
