/**
 * One artifact of a bundle: `GET /evidence/{id}/artifacts/{path}` (its bytes) and
 * `GET /evidence/{id}/proof?path=…` (its RFC 9162 inclusion proof against the bundle's root, in
 * the proof JSON of docs/formats/merkle.md, so `stella merkle verify` and any RFC 9162 verifier
 * can check it). Tenant-scoped like every read: another tenant's bundle is EVIDENCE_NOT_FOUND.
 */
import { StellaError } from '@stella/core/errors';
import { inclusionProof, inclusionProofToJson } from '@stella/core/merkle';
import { errorResponses, ifNoneMatchHits, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps, TenantTx } from '@stella/platform/service';
import type { ArtifactOpening } from '../bundle/commitment.js';
import { artifactLeafHashes, type ArtifactRole } from '../bundle/manifest.js';
import { blobKey } from '../settings.js';
import { loadBundle } from './bundles.js';
import { BUNDLE_ID_PATTERN, LeafEntrySchema, TAG } from './schemas.js';
import { recordCustody } from '../custody.js';

/** One artifact row: its Merkle leaf entry (v2: commitment; v1: digest) and its opening (v2). */
export interface StoredArtifact {
  path: string;
  role: ArtifactRole;
  mediaType: string;
  size: number;
  digest: string;
  /** The entry exactly as sealed in manifest.artifacts (the leaf). */
  entry: Record<string, string | number>;
  opening?: ArtifactOpening;
}

/** The bundle's sealed root and its artifacts in manifest order (EVIDENCE_NOT_FOUND if not the tenant's). */
export async function artifactsOf(tx: TenantTx, id: string): Promise<{ root: string; artifacts: StoredArtifact[] }> {
  const bundle = await loadBundle(tx, id);
  const r = await tx.query<{
    path: string;
    role: ArtifactRole;
    media_type: string;
    size: string;
    digest: string;
    commitment: string | null;
    salt: string | null;
  }>(
    `SELECT path, role, media_type, size::text AS size, digest, commitment, salt FROM evidence_locker.artifacts
     WHERE bundle_id = $1 ORDER BY leaf_index`,
    [id],
  );
  return {
    root: bundle.root_hash,
    artifacts: r.rows.map((a) => {
      const base = { path: a.path, role: a.role, mediaType: a.media_type, size: Number(a.size) };
      return {
        ...base,
        digest: a.digest,
        entry: a.commitment ? { ...base, commitment: a.commitment } : { ...base, digest: a.digest },
        ...(a.salt ? { opening: { path: a.path, digest: a.digest, salt: a.salt } } : {}),
      };
    }),
  };
}

function noArtifact(id: string, path: string): StellaError {
  return new StellaError('EVIDENCE_NOT_FOUND', `bundle ${id} has no artifact ${JSON.stringify(path)}`, {
    details: { bundleId: id, path },
  });
}

const hashHex = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

export function artifactRoutes(deps: ServiceDeps) {
  return (app: StellaApp) => {
    app.get(
      '/evidence/:id/artifacts/*',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "One artifact's bytes (Content-Type is its media type; ETag its digest)",
          params: {
            type: 'object',
            required: ['id', '*'],
            additionalProperties: false,
            properties: { id: { type: 'string', pattern: BUNDLE_ID_PATTERN }, '*': { type: 'string', minLength: 1 } },
          },
          response: {
            200: { description: 'The artifact', type: 'string', format: 'binary' },
            304: { description: 'Not modified (If-None-Match matched the ETag)', type: 'null' },
            ...errorResponses(400, 404, 410),
          },
        },
      },
      async (req, reply) => {
        const { id, '*': path } = req.params as { id: string; '*': string };
        const ctx = deps.tenants.forRequest(req);
        const entry = await ctx.transaction(async (tx) =>
          (await artifactsOf(tx, id)).artifacts.find((a) => a.path === path),
        );
        if (!entry) throw noArtifact(id, path);
        const etag = `"${entry.digest}"`;
        reply.header('etag', etag);
        if (ifNoneMatchHits(req.headers['if-none-match'], etag)) return reply.status(304).send();
        if (req.method === 'HEAD')
          return reply.type(entry.mediaType).header('content-length', String(entry.size)).send();
        const object = await deps.store.get(blobKey(ctx.tenant, entry.digest));
        await ctx.transaction(async (tx) => {
          await recordCustody(tx, {
            action: 'artifact-download',
            bundleId: id,
            actor: ctx.principal.subject,
            requestId: ctx.requestId,
            details: { path },
            evidence: [{ bundleId: id, digest: entry.digest }],
          });
          await tx.audit({ action: 'evidence.artifact.download', resource: id, details: { path } });
        });
        return reply.type(entry.mediaType).header('content-length', String(object.length)).send(object.body);
      },
    );

    app.get(
      '/evidence/:id/proof',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "Inclusion proof of one artifact entry in the bundle's Merkle tree (RFC 9162 §2.1.3)",
          description: 'Leaf input = the RFC 8785 bytes of `entry` (docs/formats/evidence-bundle.md).',
          params: {
            type: 'object',
            required: ['id'],
            additionalProperties: false,
            properties: { id: { type: 'string', pattern: BUNDLE_ID_PATTERN } },
          },
          querystring: {
            type: 'object',
            required: ['path'],
            additionalProperties: false,
            properties: { path: { type: 'string', minLength: 1, maxLength: 1024 } },
          },
          response: {
            200: {
              type: 'object',
              required: ['bundleId', 'entry', 'proof'],
              additionalProperties: false,
              properties: {
                bundleId: { type: 'string' },
                entry: LeafEntrySchema,
                opening: {
                  type: 'object',
                  description: "Opens the entry's commitment: HMAC-SHA256(hex-decoded salt, digest) (ADR 0011).",
                  required: ['digest', 'salt'],
                  additionalProperties: false,
                  properties: { digest: { type: 'string' }, salt: { type: 'string' } },
                },
                proof: {
                  type: 'object',
                  required: ['algorithm', 'treeSize', 'leafIndex', 'leafHash', 'auditPath', 'root'],
                  additionalProperties: false,
                  properties: {
                    algorithm: { type: 'string', const: 'rfc9162-sha256' },
                    treeSize: { type: 'integer' },
                    leafIndex: { type: 'integer' },
                    leafHash: hashHex,
                    auditPath: { type: 'array', items: hashHex },
                    root: hashHex,
                  },
                },
              },
            },
            ...errorResponses(400, 404, 410),
          },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const { path } = req.query as { path: string };
        const { root, artifacts } = await deps.tenants.forRequest(req).transaction((tx) => artifactsOf(tx, id));
        const index = artifacts.findIndex((a) => a.path === path);
        if (index < 0) throw noArtifact(id, path);
        const leaves = artifactLeafHashes(artifacts.map((a) => a.entry));
        const { opening } = artifacts[index]!;
        return {
          bundleId: id,
          entry: artifacts[index]!.entry,
          ...(opening ? { opening: { digest: opening.digest, salt: opening.salt } } : {}),
          proof: inclusionProofToJson({
            treeSize: leaves.length,
            leafIndex: index,
            leafHash: leaves[index]!,
            auditPath: inclusionProof(leaves, index),
            // The sealed root, not one recomputed from the rows: a proof against it is what counts.
            root: new Uint8Array(Buffer.from(root, 'hex')),
          }),
        };
      },
    );
  };
}
