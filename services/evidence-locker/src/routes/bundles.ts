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
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ArchiveInput } from '../bundle/archive.js';
import { byPath } from '../bundle/manifest.js';
import { logFiles, loggedArchive, sliceStream } from '../log/logged-archive.js';
import { LogAccess } from '../log/tenant-log.js';
import { blobKey, evidenceSettings } from '../settings.js';
import { artifactsOf } from './artifacts.js';

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

/**
 * The logged variant of a bundle's download, when its seal entry is integrated: its digest and
 * size (computed by one streamed pass on the first such download, then kept on the bundle row)
 * and a way to stream it. Undefined while the entry is pending, and for v1 bundles (no openings
 * to rebuild the archive from: they are served as stored).
 */
async function loggedDownload(
  ctx: ReturnType<ServiceDeps['tenants']['forRequest']>,
  access: LogAccess,
  deps: ServiceDeps,
  row: BundleRow,
): Promise<{ digest: string; size: number; open: () => Readable } | undefined> {
  const found = await ctx.transaction(async (tx) => {
    const seal = await tx.query<{ entry: Buffer; log_index: string | null }>(
      `SELECT entry, log_index::text AS log_index FROM evidence_locker.log_entries
       WHERE bundle_id = $1 AND entry_type = 'seal'`,
      [row.bundle_id],
    );
    const entry = seal.rows[0];
    if (!entry || entry.log_index === null) return undefined;
    const sealed = await tx.query<{
      manifest_json: string;
      signature_json: string;
      timestamp_tsr: Buffer | null;
      log_archive_digest: string | null;
      log_archive_size: string | null;
    }>(
      `SELECT manifest_json, signature_json, timestamp_tsr, log_archive_digest, log_archive_size::text AS log_archive_size
       FROM evidence_locker.bundles WHERE bundle_id = $1`,
      [row.bundle_id],
    );
    return { entry, sealed: sealed.rows[0]!, artifacts: (await artifactsOf(tx, row.bundle_id)).artifacts };
  });
  if (!found || found.artifacts.some((a) => !a.opening)) return undefined;
  const { entry, sealed: s, artifacts } = found;
  const log = await access.view(ctx.tenant);
  const extra = await logFiles(
    log,
    new Uint8Array(entry.entry),
    Number(entry.log_index),
    await access.verifierKey(log.origin),
  );
  const input: ArchiveInput = {
    manifestBytes: new Uint8Array(Buffer.from(s.manifest_json, 'utf8')),
    signatureJson: s.signature_json,
    publicKeyPem: row.public_key_pem,
    ...(s.timestamp_tsr ? { timestampTsr: new Uint8Array(s.timestamp_tsr) } : {}),
    artifacts: byPath(
      artifacts.map((a) => ({ path: a.path, role: a.role, mediaType: a.mediaType, size: a.size, digest: a.digest })),
    ),
    openings: artifacts.map((a) => a.opening!),
    openArtifact: async (a) => (await deps.store.get(blobKey(ctx.tenant, a.digest))).body,
  };
  const open = () => loggedArchive(input, extra);
  if (s.log_archive_digest && s.log_archive_size)
    return { digest: s.log_archive_digest, size: Number(s.log_archive_size), open };
  // First logged download: one streamed pass for the ETag and length (never buffered).
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of open()) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const digest = `sha256:${hash.digest('hex')}`;
  await ctx.transaction((tx) =>
    tx.query(
      `UPDATE evidence_locker.bundles SET log_archive_digest = $2, log_archive_size = $3
       WHERE bundle_id = $1 AND log_archive_digest IS NULL`,
      [row.bundle_id, digest, size],
    ),
  );
  return { digest, size, open };
}

export function bundleRoutes(deps: ServiceDeps) {
  const access = new LogAccess({
    db: deps.db,
    store: deps.store,
    signingKey: deps.signingKey,
    originPrefix: evidenceSettings(deps.settings).logOrigin,
  });
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
        const logged = await loggedDownload(ctx, access, deps, row);
        // Once the seal entry is integrated, bundle.tgz carries its log proof (log/…): another
        // archive, as deterministic as the stored one (src/log/logged-archive.ts).
        const archive = logged ?? { digest: row.archive_digest, size: Number(row.archive_size) };
        const etag = `"${archive.digest}"`;
        reply
          .header('etag', etag)
          .header('accept-ranges', 'bytes')
          .header('x-stella-log-proof', logged ? 'included' : 'pending');
        if (ifNoneMatchHits(req.headers['if-none-match'], etag)) return reply.status(304).send();
        const size = archive.size;
        // HEAD answers the headers only: nothing is transferred, so nothing enters the custody record.
        if (req.method === 'HEAD')
          return reply.type('application/gzip').header('content-length', String(size)).status(200).send();
        const range = parseByteRange(req.headers.range, size);
        const object = logged
          ? {
              body: range ? sliceStream(logged.open(), range.start, range.end) : logged.open(),
              length: range ? range.end - range.start + 1 : size,
              ...(range ? { range } : {}),
            }
          : await deps.store.get(row.archive_key, range ? { range } : {});
        // The custody record and event name the bytes actually served (with or without log/).
        row.archive_digest = archive.digest;
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
