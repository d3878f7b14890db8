/**
 * `PUT /evidence/blobs/{digest}`: streams one artifact into the object store (never buffered),
 * verified against its digest, deduplicated per tenant, within the per-artifact size limit (413)
 * and the tenant's quota (429 with X-Stella-Quota-* headers).
 */
import { Readable, Transform, pipeline } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps, TenantTx } from '@stella/platform/service';
import { crashPoint } from '../crash-points.js';
import { claimStoredObjects, removeUnreferenced } from '../objects/object-claims.js';
import { blobKey, evidenceSettings } from '../settings.js';
import { BlobResponseSchema, DIGEST_PATTERN, TAG } from './schemas.js';

/** Adds a pass-through parser: the handler gets the request stream itself as `req.body`. */
export function acceptStreamBodies(app: StellaApp, types: string[]): void {
  app.addContentTypeParser(types, (_req, payload, done) => done(null, payload));
}

/** Bytes this tenant's blobs hold. */
export async function tenantUsage(tx: TenantTx): Promise<number> {
  const r = await tx.query<{ n: string }>('SELECT blob_bytes::text AS n FROM evidence_locker.tenant_usage');
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Records a stored blob and charges it to the quota, in the caller's transaction. Returns false
 * when the tenant already had it. QUOTA_EXCEEDED when the new total would pass `quota`.
 */
export async function recordBlob(
  tx: TenantTx,
  blob: { digest: string; size: number; key: string },
  quota: number,
): Promise<boolean> {
  const inserted = await tx.query(
    `INSERT INTO evidence_locker.blobs (digest, size, object_key) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, digest) DO NOTHING RETURNING digest`,
    [blob.digest, blob.size, blob.key],
  );
  if (inserted.rows.length === 0) return false;
  const usage = await tx.query<{ n: string }>(
    `INSERT INTO evidence_locker.tenant_usage (blob_bytes) VALUES ($1)
     ON CONFLICT (tenant_id) DO UPDATE SET blob_bytes = evidence_locker.tenant_usage.blob_bytes + EXCLUDED.blob_bytes
     RETURNING blob_bytes::text AS n`,
    [blob.size],
  );
  const used = Number(usage.rows[0]!.n);
  if (used > quota) throw quotaExceeded(quota, used - blob.size, blob.size);
  return true;
}

export function quotaExceeded(limit: number, used: number, wanted: number): StellaError {
  return new StellaError('QUOTA_EXCEEDED', `evidence quota of ${limit} bytes would be exceeded`, {
    details: { limit, used, wanted },
  });
}

export function setQuotaHeaders(reply: FastifyReply, limit: number, used: number): void {
  reply.header('x-stella-quota-limit', String(limit));
  reply.header('x-stella-quota-used', String(used));
  reply.header('x-stella-quota-remaining', String(Math.max(0, limit - used)));
}

export function tooLarge(limit: number): StellaError {
  return new StellaError('PAYLOAD_TOO_LARGE', `evidence artifacts are limited to ${limit} bytes`, {
    details: { limit },
  });
}

/**
 * `source` piped through a byte counter that fails (with the first limit's error) once more
 * than a limit's bytes passed — for bodies without Content-Length. Source errors are forwarded,
 * so the consumer (the store, which then keeps nothing) sees every failure.
 */
export function limitBytes(source: Readable, limits: readonly { max: number; error: () => StellaError }[]): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.byteLength;
      const hit = limits.find((l) => seen > l.max);
      cb(hit ? hit.error() : null, hit ? undefined : chunk);
    },
  });
  // pipeline() destroys both on a failure either side; the consumer of `counter` sees the error.
  pipeline(source, counter, () => undefined);
  return counter;
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream) void _;
}

export function blobRoutes(deps: ServiceDeps) {
  const settings = evidenceSettings(deps.settings);
  return (app: StellaApp) => {
    acceptStreamBodies(app, ['application/octet-stream']);
    app.put(
      '/evidence/blobs/:digest',
      {
        config: tenantRoute('evidence:create'),
        schema: {
          tags: [TAG],
          summary: 'Upload one artifact blob (streamed; content-addressed, deduplicated per tenant)',
          description:
            'Body: the raw bytes as application/octet-stream. The digest is verified before the blob becomes ' +
            'visible; on a mismatch nothing is kept (OBJECT_DIGEST_MISMATCH).',
          params: {
            type: 'object',
            required: ['digest'],
            additionalProperties: false,
            properties: { digest: { type: 'string', pattern: DIGEST_PATTERN } },
          },
          response: {
            200: BlobResponseSchema,
            201: BlobResponseSchema,
            ...errorResponses(400, 413, 415, 429),
          },
        },
      },
      async (req, reply) => {
        const { digest } = req.params as { digest: string };
        const ctx = deps.tenants.forRequest(req);
        const body = req.body as Readable | undefined;
        const lengthHeader = req.headers['content-length'];
        const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
        const key = blobKey(ctx.tenant, digest);

        const state = await ctx.transaction(async (tx) => {
          const r = await tx.query<{ size: string }>(
            'SELECT size::text AS size FROM evidence_locker.blobs WHERE digest = $1',
            [digest],
          );
          return { existing: r.rows[0] ? Number(r.rows[0].size) : undefined, used: await tenantUsage(tx) };
        });
        setQuotaHeaders(reply, settings.tenantQuotaBytes, state.used);
        if (state.existing !== undefined) {
          if (body) await drain(body);
          return reply.status(200).send({ digest, size: state.existing, created: false });
        }
        const remaining = settings.tenantQuotaBytes - state.used;
        if (declared !== undefined && declared > settings.maxArtifactBytes) throw tooLarge(settings.maxArtifactBytes);
        if (declared !== undefined && declared > remaining)
          throw quotaExceeded(settings.tenantQuotaBytes, state.used, declared);

        // Without Content-Length the limits are enforced while streaming; the store then keeps nothing.
        const limited = limitBytes(body ?? Readable.from([]), [
          { max: settings.maxArtifactBytes, error: () => tooLarge(settings.maxArtifactBytes) },
          { max: remaining, error: () => quotaExceeded(settings.tenantQuotaBytes, state.used, remaining + 1) },
        ]);
        const stored = await deps.store.put(key, limited, {
          expectedDigest: digest,
          ...(declared !== undefined ? { size: declared } : {}),
          contentType: 'application/octet-stream',
        });
        await crashPoint('blob.stored');
        try {
          const created = await ctx.transaction(async (tx) => {
            await claimStoredObjects(tx, deps.store, [key]);
            const isNew = await recordBlob(tx, { digest, size: stored.size, key }, settings.tenantQuotaBytes);
            if (isNew)
              await tx.audit({ action: 'evidence.blob.upload', resource: digest, details: { size: stored.size } });
            return isNew;
          });
          setQuotaHeaders(reply, settings.tenantQuotaBytes, state.used + (created ? stored.size : 0));
          return reply.status(created ? 201 : 200).send({ digest, size: stored.size, created });
        } catch (err) {
          // Lost a quota race: remove the object unless a row names it (decided under its claim lock).
          await ctx.transaction((tx) => removeUnreferenced(tx, deps.store, [key])).catch(() => undefined);
          throw err;
        }
      },
    );
  };
}
