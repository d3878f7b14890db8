/**
 * `POST /evidence/verify`: offline verification of an uploaded bundle.tgz, streamed (not
 * buffered) through the same {@link verifyBundle} the CLI uses; `POST /evidence/{id}/verify`:
 * the same over the stored archive of one of the tenant's bundles. Both answer 200 with every
 * check; `ok` says whether the bundle verified.
 */
import type { Readable } from 'node:stream';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { verifyBundle } from '../bundle/verify.js';
import { acceptStreamBodies } from './blobs.js';
import { loadBundle } from './bundles.js';
import { BundleIdParams, TAG, VerifyReportSchema } from './schemas.js';

export function verifyRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    acceptStreamBodies(app, ['application/gzip', 'application/octet-stream']);
    app.post(
      '/evidence/verify',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'Verify an uploaded bundle.tgz offline (checksums, artifacts, Merkle root, seal, timestamp)',
          description: "Checks the seal against the bundle's own keys/; the report names every failing check.",
          response: { 200: VerifyReportSchema, ...errorResponses(400, 415) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const report = await verifyBundle(req.body as Readable);
        await ctx.transaction((tx) =>
          tx.audit({
            action: 'evidence.verify',
            ...(report.bundleId ? { resource: report.bundleId } : {}),
            outcome: report.ok ? 'ok' : 'failed',
            details: { failed: report.checks.filter((c) => c.status === 'fail').map((c) => c.check) },
          }),
        );
        return report;
      },
    );

    app.post(
      '/evidence/:id/verify',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "Verify a stored bundle's archive (the same checks as an upload; recorded in its chain of custody)",
          params: BundleIdParams,
          response: { 200: VerifyReportSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        const row = await ctx.transaction((tx) => loadBundle(tx, id));
        const report = await verifyBundle((await deps.store.get(row.archive_key)).body, {
          publicKeyPem: row.public_key_pem,
        });
        await ctx.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO evidence_locker.custody_events (bundle_id, action, actor, request_id, details)
             VALUES ($1, 'verify', $2, $3, $4::jsonb)`,
            [id, ctx.principal.subject, ctx.requestId, JSON.stringify({ ok: report.ok })],
          );
          await tx.audit({ action: 'evidence.verify', resource: id, outcome: report.ok ? 'ok' : 'failed' });
          await tx.publish({
            kind: 'evidence.bundle.verified',
            subject: id,
            attributes: { ok: report.ok },
            evidence: [{ bundleId: id, digest: row.archive_digest, manifestDigest: row.manifest_digest }],
          });
        });
        return report;
      },
    );
  };
}
