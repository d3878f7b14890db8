/**
 * `POST /evidence/verify` (issue #8: "by id, or a bundle.tgz upload streamed, not buffered"):
 * an `application/gzip` / `application/octet-stream` body is an uploaded bundle.tgz, verified
 * offline through the same {@link verifyBundle} the CLI uses; a JSON body `{"bundleId": "…"}`
 * verifies the stored archive of one of the tenant's bundles (recorded in its chain of custody).
 * `POST /evidence/{id}/verify` is the same by-id check addressed by path. All answer 200 with
 * every check; `ok` says whether the bundle verified.
 */
import { Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import type { FastifyRequest } from 'fastify';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { verifyBundle } from '../bundle/verify.js';
import { acceptStreamBodies } from './blobs.js';
import { loadBundle } from './bundles.js';
import { BUNDLE_ID_PATTERN, BundleIdParams, TAG, VerifyReportSchema } from './schemas.js';
import { recordCustody } from '../custody.js';

const BUNDLE_ID = new RegExp(BUNDLE_ID_PATTERN);

/** The `{"bundleId"}` of a JSON verify request, checked by hand (the route also takes streams). */
function bundleIdOf(body: unknown): string {
  const keys = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
  const id = (body as { bundleId?: unknown } | undefined)?.bundleId;
  if (keys.length !== 1 || typeof id !== 'string' || !BUNDLE_ID.test(id)) {
    throw new StellaError(
      'VALIDATION_FAILED',
      'send a bundle.tgz (application/gzip) or a JSON body {"bundleId": "<id>"} and nothing else',
      { details: { problems: [{ path: '/bundleId', message: `must be a bundle id (${BUNDLE_ID_PATTERN})` }] } },
    );
  }
  return id;
}

export function verifyRoutes(deps: ServiceDeps) {
  /** Verifies the stored archive of bundle `id` of the caller's tenant; custody, audit and an event record it. */
  async function verifyStored(req: FastifyRequest, id: string) {
    const ctx = deps.tenants.forRequest(req);
    const row = await ctx.transaction((tx) => loadBundle(tx, id));
    const report = await verifyBundle((await deps.store.get(row.archive_key)).body, {
      publicKeyPem: row.public_key_pem,
    });
    await ctx.transaction(async (tx) => {
      await recordCustody(tx, {
        action: 'verify',
        bundleId: id,
        actor: ctx.principal.subject,
        requestId: ctx.requestId,
        details: { ok: report.ok },
        evidence: [{ bundleId: id, digest: row.archive_digest, manifestDigest: row.manifest_digest }],
      });
      await tx.audit({ action: 'evidence.verify', resource: id, outcome: report.ok ? 'ok' : 'failed' });
      await tx.publish({
        kind: 'evidence.bundle.verified',
        subject: id,
        attributes: { ok: report.ok },
        evidence: [{ bundleId: id, digest: row.archive_digest, manifestDigest: row.manifest_digest }],
      });
    });
    return report;
  }

  return (app: StellaApp) => {
    acceptStreamBodies(app, ['application/gzip', 'application/octet-stream']);
    app.post(
      '/evidence/verify',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'Verify a bundle offline: an uploaded bundle.tgz, or a stored one by id',
          description:
            "Body: the bundle.tgz as application/gzip (streamed; checked against the bundle's own keys/), or " +
            'JSON {"bundleId": "<id>"} for a stored bundle of this tenant (another tenant\'s id answers 404 like a ' +
            'missing one). The report names every failing check.',
          response: { 200: VerifyReportSchema, ...errorResponses(400, 404, 410, 415) },
        },
      },
      async (req) => {
        if (!(req.body instanceof Readable)) return verifyStored(req, bundleIdOf(req.body));
        const ctx = deps.tenants.forRequest(req);
        const report = await verifyBundle(req.body);
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
          response: { 200: VerifyReportSchema, ...errorResponses(400, 404, 410) },
        },
      },
      async (req) => verifyStored(req, (req.params as { id: string }).id),
    );
  };
}
