/**
 * Reading bundles: `GET /evidence/{id}`, `GET /evidence` (filters, keyset pagination) and
 * `GET /evidence/{id}/download` (the stored deterministic bundle.tgz; ETag, If-None-Match, Range).
 * RLS scopes every query to the caller's tenant, so another tenant's bundle is EVIDENCE_NOT_FOUND
 * exactly like a missing one.
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, ifNoneMatchHits, parseByteRange, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps, TenantTx } from '@stella/platform/service';
import {
  BundleIdParams,
  BundleSchema,
  BundleSummarySchema,
  DIGEST_PATTERN,
  BUNDLE_ID_PATTERN,
  TAG,
} from './schemas.js';
import { BUNDLE_KINDS } from '../bundle/manifest.js';
import { loadTombstone, tombstoneOf } from '../retention/tombstone-view.js';
import { resultOf, type BundleResultRow } from './snapshot.js';
import { recordCustody } from '../custody.js';

type BundleRow = BundleResultRow & {
  kind: string;
  subject_name: string | null;
  subject_digest: string | null;
  created_at: Date | string;
  leaf_count: number;
  archive_key: string;
  archive_digest: string;
  archive_size: string;
  public_key_pem: string;
};

const COLUMNS = `bundle_id, root_hash, manifest_digest, key_id, timestamp_gen_time, timestamp_tsa, kind, subject_name,
  subject_digest, created_at, leaf_count, archive_key, archive_digest, archive_size::text AS archive_size, public_key_pem`;

function summaryOf(row: BundleRow) {
  return {
    ...resultOf(row),
    kind: row.kind,
    ...(row.subject_digest
      ? { subject: { ...(row.subject_name ? { name: row.subject_name } : {}), digest: row.subject_digest } }
      : {}),
    createdAt: new Date(row.created_at).toISOString(),
    leafCount: row.leaf_count,
    archive: { digest: row.archive_digest, size: Number(row.archive_size) },
  };
}

function notFound(id: string): StellaError {
  return new StellaError('EVIDENCE_NOT_FOUND', `no evidence bundle ${id}`, { details: { bundleId: id } });
}

/**
 * The tenant's bundle `id` (RLS), or EVIDENCE_NOT_FOUND — the same for another tenant's — or,
 * when retention purged it, EVIDENCE_PURGED (410) carrying its signed tombstone.
 */
export async function loadBundle(tx: TenantTx, id: string): Promise<BundleRow> {
  const r = await tx.query<BundleRow>(`SELECT ${COLUMNS} FROM evidence_locker.bundles WHERE bundle_id = $1`, [id]);
  if (r.rows[0]) return r.rows[0];
  const tombstone = await loadTombstone(tx, id);
  if (tombstone)
    throw new StellaError('EVIDENCE_PURGED', `evidence bundle ${id} was purged: ${tombstone.reason}`, {
      details: { bundleId: id, tombstone: tombstoneOf(tombstone) },
    });
  throw notFound(id);
}

const ListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: [...BUNDLE_KINDS] },
    subjectDigest: { type: 'string', pattern: DIGEST_PATTERN },
    artifactDigest: { type: 'string', pattern: DIGEST_PATTERN },
    digest: {
      type: 'string',
      pattern: DIGEST_PATTERN,
      description: 'Any digest: subject, artifact, manifest or archive.',
    },
    createdAfter: { type: 'string', format: 'date-time' },
    createdBefore: { type: 'string', format: 'date-time' },
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
    cursor: { type: 'string', pattern: BUNDLE_ID_PATTERN, description: '`nextCursor` of the previous page.' },
  },
} as const;

interface ListQueryValue {
  kind?: string;
  subjectDigest?: string;
  artifactDigest?: string;
  digest?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit: number;
  cursor?: string;
}

export function bundleRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    app.get(
      '/evidence/:id',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'One evidence bundle: seal, archive digest and artifact entries',
          params: BundleIdParams,
          response: { 200: BundleSchema, ...errorResponses(400, 404, 410) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        return deps.tenants.forRequest(req).transaction(async (tx) => {
          const row = await loadBundle(tx, id);
          const a = await tx.query<{ path: string; role: string; media_type: string; size: string; digest: string }>(
            `SELECT path, role, media_type, size::text AS size, digest FROM evidence_locker.artifacts
             WHERE bundle_id = $1 ORDER BY leaf_index`,
            [id],
          );
          return {
            ...summaryOf(row),
            artifacts: a.rows.map((r) => ({
              path: r.path,
              role: r.role,
              mediaType: r.media_type,
              size: Number(r.size),
              digest: r.digest,
            })),
          };
        });
      },
    );

    app.get(
      '/evidence',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'List evidence bundles, newest first (keyset pagination)',
          querystring: ListQuery,
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: BundleSummarySchema }, nextCursor: { type: 'string' } },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const q = req.query as ListQueryValue;
        const limit = q.limit;
        const where: string[] = [];
        const params: unknown[] = [];
        const p = (v: unknown) => {
          params.push(v);
          return `$${params.length}`;
        };
        if (q.kind) where.push(`b.kind = ${p(q.kind)}`);
        if (q.subjectDigest) where.push(`b.subject_digest = ${p(q.subjectDigest)}`);
        if (q.artifactDigest)
          where.push(
            `EXISTS (SELECT 1 FROM evidence_locker.artifacts a WHERE a.bundle_id = b.bundle_id AND a.digest = ${p(q.artifactDigest)})`,
          );
        if (q.digest) {
          const d = p(q.digest);
          where.push(`(b.subject_digest = ${d} OR b.manifest_digest = ${d} OR b.archive_digest = ${d}
            OR EXISTS (SELECT 1 FROM evidence_locker.artifacts a WHERE a.bundle_id = b.bundle_id AND a.digest = ${d}))`);
        }
        if (q.createdAfter) where.push(`b.created_at >= ${p(new Date(q.createdAfter))}`);
        if (q.createdBefore) where.push(`b.created_at < ${p(new Date(q.createdBefore))}`);
        if (q.cursor) where.push(`b.bundle_id < ${p(q.cursor)}`);
        const sql = `SELECT ${COLUMNS} FROM evidence_locker.bundles b
          ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY b.bundle_id DESC LIMIT ${p(limit + 1)}`;
        const rows = await deps.tenants
          .forRequest(req)
          .transaction(async (tx) => (await tx.query<BundleRow>(sql, params)).rows);
        const page = rows.slice(0, limit);
        return {
          items: page.map(summaryOf),
          ...(rows.length > limit ? { nextCursor: page[page.length - 1]!.bundle_id } : {}),
        };
      },
    );

    app.get(
      '/evidence/:id/download',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'The deterministic bundle.tgz (ETag = its sha256; If-None-Match; one Range)',
          params: BundleIdParams,
          response: {
            200: { description: 'bundle.tgz (application/gzip)', type: 'string', format: 'binary' },
            206: { description: 'The requested byte range of bundle.tgz', type: 'string', format: 'binary' },
            304: { description: 'Not modified (If-None-Match matched the ETag)', type: 'null' },
            ...errorResponses(400, 404, 410, 416),
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        const row = await ctx.transaction((tx) => loadBundle(tx, id));
        const etag = `"${row.archive_digest}"`;
        reply.header('etag', etag).header('accept-ranges', 'bytes');
        if (ifNoneMatchHits(req.headers['if-none-match'], etag)) return reply.status(304).send();
        const size = Number(row.archive_size);
        // HEAD answers the headers only: nothing is transferred, so nothing enters the custody record.
        if (req.method === 'HEAD')
          return reply.type('application/gzip').header('content-length', String(size)).status(200).send();
        const range = parseByteRange(req.headers.range, size);
        const object = await deps.store.get(row.archive_key, range ? { range } : {});
        await ctx.transaction(async (tx) => {
          await recordCustody(tx, {
            action: 'download',
            bundleId: id,
            actor: ctx.principal.subject,
            requestId: ctx.requestId,
            details: range ? { range } : {},
            evidence: [{ bundleId: id, digest: row.archive_digest, manifestDigest: row.manifest_digest }],
          });
          await tx.audit({ action: 'evidence.download', resource: id, ...(range ? { details: { range } } : {}) });
          await tx.publish({
            kind: 'evidence.bundle.downloaded',
            subject: id,
            evidence: [{ bundleId: id, digest: row.archive_digest, manifestDigest: row.manifest_digest }],
          });
        });
        reply
          .type('application/gzip')
          .header('content-disposition', `attachment; filename="bundle-${id}.tgz"`)
          .header('content-length', String(object.length));
        if (object.range)
          reply.status(206).header('content-range', `bytes ${object.range.start}-${object.range.end}/${size}`);
        return reply.send(object.body);
      },
    );
  };
}
