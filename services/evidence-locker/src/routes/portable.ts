/**
 * `GET /evidence/{id}/portable` (issue #8 item 8; ADR 0011): the bundle redacted for a sealed
 * environment, as a deterministic portable-bundle-v1.tgz streamed from the stored blobs.
 * `?withhold=<path>` (repeatable) leaves an artifact's content and opening out (its entry stays);
 * `?keepMetadata=<member>` (repeatable) keeps a top-level metadata member (all others are
 * redacted). Every export is a custody record, an audit entry and an `evidence.custody.exported`
 * event. Another tenant's bundle is EVIDENCE_NOT_FOUND, like a missing one.
 */
import { parseJson } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import type { Manifest } from '../bundle/manifest.js';
import { PORTABLE_ARCHIVE_NAME, createPortableArchive } from '../bundle/portable.js';
import { blobKey } from '../settings.js';
import { artifactsOf } from './artifacts.js';
import { loadBundle } from './bundles.js';
import { BundleIdParams, TAG } from './schemas.js';

const PortableQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    withhold: {
      type: 'array',
      maxItems: 10_000,
      items: { type: 'string', minLength: 1, maxLength: 1024 },
      description: 'An artifact path whose content is withheld (repeatable); its manifest entry stays.',
    },
    keepMetadata: {
      type: 'array',
      maxItems: 1_000,
      items: { type: 'string', minLength: 1, maxLength: 256 },
      description: 'A top-level metadata member to keep (repeatable); every other member is redacted.',
    },
  },
  examples: [{ withhold: ['logs/scan.log'], keepMetadata: ['policy'] }],
} as const;

type SealedRow = {
  manifest_json: string;
  signature_json: string;
  public_key_pem: string;
  timestamp_tsr: Uint8Array | null;
};

export function portableRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    app.get(
      '/evidence/:id/portable',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'The bundle redacted for transfer: portable-bundle-v1.tgz with verify-offline.sh',
          description:
            'No tenant id or internal names (redactions.json lists what was redacted); withheld artifacts keep ' +
            'their entries but not their content; the original Merkle root and seal still verify, with ' +
            '`sh verify-offline.sh` (sha256sum and openssl only) or `stella evidence verify`. Deterministic: ' +
            'the same bundle and choices give the same bytes.',
          params: BundleIdParams,
          querystring: PortableQuery,
          response: {
            200: { description: 'portable-bundle-v1.tgz (application/gzip)', type: 'string', format: 'binary' },
            ...errorResponses(400, 404, 409),
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const q = req.query as { withhold?: string[]; keepMetadata?: string[] };
        const ctx = deps.tenants.forRequest(req);
        const { row, sealed, artifacts } = await ctx.transaction(async (tx) => {
          const row = await loadBundle(tx, id);
          const r = await tx.query<SealedRow>(
            `SELECT manifest_json, signature_json, public_key_pem, timestamp_tsr FROM evidence_locker.bundles
             WHERE bundle_id = $1`,
            [id],
          );
          return { row, sealed: r.rows[0]!, artifacts: (await artifactsOf(tx, id)).artifacts };
        });
        const withhold = new Set(q.withhold ?? []);
        const paths = new Set(artifacts.map((a) => a.path));
        const unknown = [...withhold].filter((p) => !paths.has(p));
        if (unknown.length > 0)
          throw new StellaError('VALIDATION_FAILED', `withhold names ${unknown.length} path(s) not in bundle ${id}`, {
            details: { unknown },
          });
        const manifest = parseJson(sealed.manifest_json) as unknown as Manifest;
        const openings = artifacts.map((a) => a.opening);
        if (openings.some((o) => o === undefined))
          throw new StellaError(
            'CONFLICT',
            `bundle ${id} was sealed with plain digests (evidence-bundle/v1): withheld content could be guessed ` +
              'from them, so it has no portable export; download it instead',
            { details: { bundleId: id, schema: (manifest as { schema?: string }).schema } },
          );
        const unknownMeta = (q.keepMetadata ?? []).filter((k) => !Object.hasOwn(manifest.metadata ?? {}, k));
        if (unknownMeta.length > 0)
          throw new StellaError('VALIDATION_FAILED', `keepMetadata names member(s) the bundle's metadata lacks`, {
            details: { unknown: unknownMeta },
          });

        const withheld = manifest.artifacts.filter((a) => withhold.has(a.path)).map((a) => a.path);
        await ctx.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO evidence_locker.custody_events (bundle_id, action, actor, request_id, details)
             VALUES ($1, 'export', $2, $3, $4::jsonb)`,
            [
              id,
              ctx.principal.subject,
              ctx.requestId,
              JSON.stringify({ format: 'portable-bundle-v1', withheld, keptMetadata: q.keepMetadata ?? [] }),
            ],
          );
          await tx.audit({
            action: 'evidence.export',
            resource: id,
            details: { format: 'portable-bundle-v1', withheld },
          });
          await tx.publish({
            kind: 'evidence.custody.exported',
            subject: id,
            attributes: { bundleId: id, format: 'portable-bundle-v1', withheld: withheld.length },
            evidence: [{ bundleId: id, digest: row.archive_digest, manifestDigest: row.manifest_digest }],
          });
        });
        const body = createPortableArchive({
          manifest,
          manifestDigest: row.manifest_digest,
          openings: openings as NonNullable<(typeof openings)[number]>[],
          withhold,
          keepMetadata: q.keepMetadata ?? [],
          signatureJson: sealed.signature_json,
          publicKeyPem: sealed.public_key_pem,
          ...(sealed.timestamp_tsr ? { timestampTsr: new Uint8Array(sealed.timestamp_tsr) } : {}),
          openArtifact: async (o) => (await deps.store.get(blobKey(ctx.tenant, o.digest))).body,
        });
        return reply
          .type('application/gzip')
          .header('content-disposition', `attachment; filename="${PORTABLE_ARCHIVE_NAME}"`)
          .send(body);
      },
    );
  };
}
