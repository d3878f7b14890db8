/**
 * `POST /evidence/verify`: offline verification of an uploaded bundle.tgz, streamed (not
 * buffered) through the same {@link verifyBundle} the CLI uses. Answers 200 with every check;
 * `ok` says whether the bundle verified.
 */
import type { Readable } from 'node:stream';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { verifyBundle } from '../bundle/verify.js';
import { acceptStreamBodies } from './blobs.js';
import { TAG, VerifyReportSchema } from './schemas.js';

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
  };
}
