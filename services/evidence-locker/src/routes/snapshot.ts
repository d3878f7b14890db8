/**
 * `POST /evidence/snapshot`: validates the artifact list, builds manifest.json and its Merkle
 * tree, seals it (DSSE + optional RFC 3161), writes the deterministic bundle.tgz to the object
 * store and records everything in one tenant transaction with its audit entry and outbox event.
 * Bad input is refused before anything is written; a failure after the archive is stored removes it.
 */
import { monotonicFactory } from 'ulid';
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { decodeBase64Strict } from '@stella/core/dsse';
import { StellaError, isStellaError } from '@stella/core/errors';
import { createTar, normalizeArchivePath } from '@stella/core/tar';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import { resolveSigner } from '@stella/platform/keys';
import type { ServiceDeps } from '@stella/platform/service';
import { ARTIFACTS_DIR, createBundleArchive } from '../bundle/archive.js';
import {
  buildManifest,
  byPath,
  type ArtifactRole,
  type BundleKind,
  type BundleSubject,
  type SealedArtifact,
} from '../bundle/manifest.js';
import { sealManifest } from '../bundle/seal.js';
import { crashPoint } from '../crash-points.js';
import { enqueueLogEntries, sealEntry } from '../log/log-entries.js';
import { claimStoredObjects, removeUnreferenced } from '../objects/object-claims.js';
import { recordCustody } from '../custody.js';
import { checkReservedPaths, incidentArtifacts, requestNote } from '../incident/debug-artifacts.js';
import { activeIncident } from '../incident/incident.js';
import { archiveKey, blobKey, evidenceSettings } from '../settings.js';
import { quotaExceeded, recordBlob, setQuotaHeaders, tenantUsage, tooLarge } from './blobs.js';
import { checkKindSchema } from './kind-schemas.js';
import { tenantSaltKey } from './salt-key.js';
import { SnapshotBodySchema, SnapshotResponseSchema, TAG } from './schemas.js';

interface ArtifactInput {
  path: string;
  role: ArtifactRole;
  mediaType: string;
  digest?: string;
  content?: string;
}

interface SnapshotBody {
  kind: BundleKind;
  subject?: BundleSubject;
  artifacts: ArtifactInput[];
  metadata?: Record<string, JsonValue>;
}

interface SnapshotResult {
  bundleId: string;
  rootHash: string;
  manifestDigest: string;
  keyId: string;
  timestamp?: { genTime: string; tsa: string };
  log?: { entryDigest: string; status: 'pending' | 'integrated'; index?: number };
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;
// Monotonic within the process, so bundle ids (the list's keyset) follow sealing order.
const ulid = monotonicFactory();

function invalid(message: string, details: Record<string, unknown>): StellaError {
  return new StellaError('VALIDATION_FAILED', message, { details });
}

/**
 * Artifact paths as the archive will hold them (`artifacts/<path>`): each one normalised by the
 * core archive-path rules (no absolute paths, `..`, backslashes, control characters), then the
 * whole set planned by the tar writer itself, so that duplicates, case/normalisation collisions
 * and file-vs-directory clashes are refused now rather than when the bundle is written.
 */
async function checkPaths(artifacts: readonly ArtifactInput[]): Promise<void> {
  const seen = new Map<string, number>();
  for (const [i, a] of artifacts.entries()) {
    try {
      // Strict: the one spelling the archive uses (no `./`, `.` segments or trailing `/` either).
      normalizeArchivePath(a.path, { strict: true });
    } catch (err) {
      const reason = isStellaError(err) ? ((err.details as { reason?: string })?.reason ?? err.message) : String(err);
      throw invalid(`artifacts[${i}].path ${JSON.stringify(a.path)} is not allowed: ${reason}`, {
        pointer: `/artifacts/${i}/path`,
        path: a.path,
        reason,
      });
    }
    const earlier = seen.get(a.path);
    if (earlier !== undefined)
      throw invalid(`artifacts[${i}].path ${JSON.stringify(a.path)} duplicates artifacts[${earlier}]`, {
        pointer: `/artifacts/${i}/path`,
        path: a.path,
        reason: 'duplicate path',
      });
    seen.set(a.path, i);
  }
  const dryRun = createTar(artifacts.map((a) => ({ path: ARTIFACTS_DIR + a.path, body: new Uint8Array() })));
  try {
    for await (const _ of dryRun) void _;
  } catch (err) {
    const d = (isStellaError(err) ? err.details : undefined) as { path?: string; reason?: string } | undefined;
    throw invalid(`artifact paths cannot form a bundle: ${d?.reason ?? String(err)}`, {
      path: d?.path?.replace(/^artifacts\//, ''),
      reason: d?.reason,
    });
  }
}

export function snapshotRoutes(deps: ServiceDeps) {
  const settings = evidenceSettings(deps.settings);
  return (app: StellaApp) => {
    app.post(
      '/evidence/snapshot',
      {
        config: tenantRoute('evidence:create'),
        schema: {
          tags: [TAG],
          summary: 'Seal an evidence bundle from uploaded blobs and inline artifacts',
          description:
            'Artifacts name an uploaded blob by digest or carry small content inline (base64). The bundle is ' +
            'sealed (DSSE over an in-toto Statement of the Merkle root; RFC 3161 when STELLA_TSA_URL is set). ' +
            'The same Idempotency-Key with the same body answers the same bundle.',
          headers: {
            type: 'object',
            properties: { 'idempotency-key': { type: 'string', pattern: IDEMPOTENCY_KEY.source } },
          },
          body: SnapshotBodySchema,
          response: { 201: SnapshotResponseSchema, ...errorResponses(400, 409, 413, 429) },
        },
      },
      async (req, reply) => {
        const request = req.body as SnapshotBody;
        const ctx = deps.tenants.forRequest(req);
        const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
        const requestDigest = sha256Digest(canonicalJcsBytes(request as unknown as JsonValue));
        checkKindSchema(request);
        await checkPaths(request.artifacts);
        requestNote(req, 'snapshot request validated', {
          kind: request.kind,
          artifacts: request.artifacts.length,
          idempotencyKey: idempotencyKey !== undefined,
        });

        if (idempotencyKey) {
          const earlier = await answerOfIdempotencyKey(ctx, idempotencyKey, requestDigest);
          if (earlier) return reply.status(201).send(earlier);
        }

        // Incident mode: debug artefacts join the bundle as inline artifacts (src/incident/debug-artifacts.ts).
        const incident = await ctx.transaction((tx) => activeIncident(tx));
        if (incident) checkReservedPaths(request.artifacts.map((a) => a.path));
        const body: SnapshotBody = incident
          ? {
              ...request,
              artifacts: [...request.artifacts, ...incidentArtifacts(deps, ctx, req, incident, requestDigest)],
            }
          : request;

        // Inline content: decoded and size-checked now, stored before the transaction that records it.
        const inline = new Map<number, { bytes: Uint8Array; digest: string }>();
        for (const [i, a] of body.artifacts.entries()) {
          if (a.content === undefined) continue;
          let bytes: Uint8Array;
          try {
            bytes = decodeBase64Strict(a.content, `artifacts[${i}].content`);
          } catch {
            throw invalid(`artifacts[${i}].content is not valid base64`, { pointer: `/artifacts/${i}/content` });
          }
          if (bytes.byteLength > settings.maxArtifactBytes) throw tooLarge(settings.maxArtifactBytes);
          inline.set(i, { bytes, digest: sha256Digest(bytes) });
        }

        // Referenced blobs must be this tenant's (RLS: another tenant's digest is simply missing);
        // inline content the tenant already holds is neither stored nor charged again.
        const referenced = [
          ...new Set([
            ...body.artifacts.flatMap((a) => (a.digest ? [a.digest] : [])),
            ...[...inline.values()].map((b) => b.digest),
          ]),
        ];
        const known = await ctx.transaction(async (tx) => {
          const r = await tx.query<{ digest: string; size: string }>(
            'SELECT digest, size::text AS size FROM evidence_locker.blobs WHERE digest = ANY($1::text[])',
            [referenced],
          );
          return {
            sizes: new Map(r.rows.map((row) => [row.digest, Number(row.size)])),
            used: await tenantUsage(tx),
            saltKey: await tenantSaltKey(tx),
          };
        });
        const missing = body.artifacts.filter((a) => a.digest && !known.sizes.has(a.digest));
        if (missing.length > 0)
          throw new StellaError(
            'EVIDENCE_BLOB_MISSING',
            `${missing.length} artifact(s) name blobs that were not uploaded`,
            {
              details: { missing: missing.map((a) => ({ path: a.path, digest: a.digest })) },
            },
          );
        const newInline = [
          ...new Map([...inline.values()].filter((b) => !known.sizes.has(b.digest)).map((b) => [b.digest, b])).values(),
        ];
        const inlineBytes = newInline.reduce((n, b) => n + b.bytes.byteLength, 0);
        setQuotaHeaders(reply, settings.tenantQuotaBytes, known.used);
        if (known.used + inlineBytes > settings.tenantQuotaBytes)
          throw quotaExceeded(settings.tenantQuotaBytes, known.used, inlineBytes);

        const entries: SealedArtifact[] = body.artifacts.map((a, i) => {
          const b = inline.get(i);
          const digest = b ? b.digest : a.digest!;
          return {
            path: a.path,
            role: a.role,
            mediaType: a.mediaType,
            size: b ? b.bytes.byteLength : known.sizes.get(digest)!,
            digest,
          };
        });
        const bundleId = ulid();
        const createdAt = new Date();
        const {
          manifest,
          bytes: manifestBytes,
          digest: manifestDigest,
          openings,
        } = buildManifest({
          bundleId,
          tenant: ctx.tenant,
          kind: body.kind,
          createdAt,
          artifacts: entries,
          saltKey: known.saltKey,
          ...(body.subject ? { subject: body.subject } : {}),
          ...(body.metadata ? { metadata: body.metadata } : {}),
        });
        const signer = await resolveSigner(deps.signingKey);
        let seal;
        try {
          seal = await sealManifest(manifest, manifestDigest, signer, deps.config.tsaUrl);
        } finally {
          await signer.close();
        }

        const logEntry = sealEntry({
          bundleId,
          kind: manifest.kind,
          createdAt: manifest.createdAt,
          rootHash: manifest.merkle.root,
          manifestDigest,
        });

        const written: string[] = [];
        try {
          for (const b of newInline) {
            const key = blobKey(ctx.tenant, b.digest);
            await deps.store.put(key, b.bytes, { expectedDigest: b.digest, size: b.bytes.byteLength });
            written.push(key);
          }
          const aKey = archiveKey(ctx.tenant, bundleId);
          const archive = await deps.store.put(
            aKey,
            createBundleArchive({
              manifestBytes,
              signatureJson: seal.signatureJson,
              publicKeyPem: seal.publicKeyPem,
              ...(seal.timestamp ? { timestampTsr: seal.timestamp.tsr } : {}),
              artifacts: byPath(entries),
              openings,
              openArtifact: async (a) => (await deps.store.get(blobKey(ctx.tenant, a.digest))).body,
            }),
            { contentType: 'application/gzip' },
          );
          written.push(aKey);
          await crashPoint('snapshot.stored');

          const result = await ctx.transaction(async (tx) => {
            await claimStoredObjects(tx, deps.store, written);
            for (const b of newInline)
              await recordBlob(
                tx,
                { digest: b.digest, size: b.bytes.byteLength, key: blobKey(ctx.tenant, b.digest) },
                settings.tenantQuotaBytes,
              );
            const r = await tx.query<BundleResultRow>(
              `INSERT INTO evidence_locker.bundles (bundle_id, kind, subject_name, subject_digest, created_at, root_hash,
                 leaf_count, manifest_digest, manifest_json, signature_json, key_id, public_key_pem, timestamp_tsr,
                 timestamp_gen_time, timestamp_tsa, archive_key, archive_digest, archive_size)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
               RETURNING ${RESULT_COLUMNS}`,
              [
                bundleId,
                body.kind,
                body.subject?.name ?? null,
                body.subject?.digest ?? null,
                createdAt,
                manifest.merkle.root,
                manifest.merkle.leafCount,
                manifestDigest,
                Buffer.from(manifestBytes).toString('utf8'),
                seal.signatureJson,
                seal.keyId,
                seal.publicKeyPem,
                seal.timestamp ? Buffer.from(seal.timestamp.tsr) : null,
                seal.timestamp?.genTime ?? null,
                seal.timestamp ? (seal.timestamp.tsa ?? deps.config.tsaUrl) : null,
                aKey,
                archive.digest,
                archive.size,
              ],
            );
            for (const [i, a] of manifest.artifacts.entries())
              await tx.query(
                `INSERT INTO evidence_locker.artifacts (bundle_id, path, role, media_type, size, digest, leaf_index,
                   commitment, salt)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
                [
                  bundleId,
                  a.path,
                  a.role,
                  a.mediaType,
                  a.size,
                  openings[i]!.digest,
                  i,
                  a.commitment,
                  openings[i]!.salt,
                ],
              );
            if (idempotencyKey)
              await tx.query(
                'INSERT INTO evidence_locker.snapshot_requests (idempotency_key, request_digest, bundle_id) VALUES ($1, $2, $3)',
                [idempotencyKey, requestDigest, bundleId],
              );
            // The seal's log entry, in this same transaction: logged if and only if sealed (ADR 0013).
            await enqueueLogEntries(tx, [logEntry]);
            await recordCustody(tx, {
              action: 'seal',
              bundleId,
              actor: ctx.principal.subject,
              requestId: ctx.requestId,
              details: { rootHash: manifest.merkle.root, manifestDigest },
              evidence: [{ bundleId, digest: archive.digest, manifestDigest }],
            });
            await tx.audit({
              action: 'evidence.seal',
              resource: bundleId,
              details: { kind: body.kind, rootHash: manifest.merkle.root, artifacts: manifest.artifacts.length },
            });
            await tx.publish({
              kind: 'evidence.bundle.sealed',
              subject: body.subject?.digest ?? bundleId,
              // rootHash: the timeline links the seal to its Merkle root (docs/timeline.md).
              attributes: {
                bundleId,
                kind: body.kind,
                leafCount: manifest.merkle.leafCount,
                rootHash: manifest.merkle.root,
              },
              evidence: [{ bundleId, digest: archive.digest, manifestDigest }],
            });
            return r.rows[0]!;
          });
          return reply
            .status(201)
            .send({ ...resultOf(result), log: { entryDigest: logEntry.digest, status: 'pending' as const } });
        } catch (err) {
          // Nothing half-written: objects stored for this request but not recorded are removed.
          await removeUnrecorded(deps, ctx, written);
          // 23503: a blob this snapshot names was freed by a retention purge meanwhile
          // (docs/evidence/retention.md "Purge"); nothing was kept, the client uploads it again.
          if ((err as { code?: string })?.code === '23503')
            throw new StellaError(
              'EVIDENCE_BLOB_MISSING',
              'a blob of this snapshot was purged meanwhile; upload it again',
            );
          if (isStellaError(err) || !isUniqueViolation(err) || !idempotencyKey) throw err;
          // Lost a race on the Idempotency-Key: the winner's bundle is the answer (or 409 for another body).
          const winner = await answerOfIdempotencyKey(ctx, idempotencyKey, requestDigest);
          if (winner) return reply.status(201).send(winner);
          throw new StellaError(
            'CONFLICT',
            'a snapshot with this Idempotency-Key was sealed concurrently; retry to read it',
          );
        }
      },
    );
  };
}

type TenantCtx = ReturnType<ServiceDeps['tenants']['forRequest']>;

/**
 * The bundle an earlier request with this Idempotency-Key sealed (undefined if none); CONFLICT
 * when that request had another body.
 */
async function answerOfIdempotencyKey(
  ctx: TenantCtx,
  idempotencyKey: string,
  requestDigest: string,
): Promise<SnapshotResult | undefined> {
  const earlier = await ctx.transaction(async (tx) => {
    const r = await tx.query<BundleResultRow & { request_digest: string }>(
      `SELECT r.request_digest, ${RESULT_COLUMNS.split(', ')
        .map((c) => `b.${c}`)
        .join(', ')}
       FROM evidence_locker.snapshot_requests r JOIN evidence_locker.bundles b USING (tenant_id, bundle_id)
       WHERE r.idempotency_key = $1`,
      [idempotencyKey],
    );
    return r.rows[0];
  });
  if (!earlier) return undefined;
  if (earlier.request_digest !== requestDigest)
    throw new StellaError('CONFLICT', 'this Idempotency-Key was used for a different snapshot request', {
      details: { bundleId: earlier.bundle_id },
    });
  const log = await ctx.transaction(
    async (tx) =>
      (
        await tx.query<{ entry_digest: string; log_index: string | null }>(
          `SELECT entry_digest, log_index::text AS log_index FROM evidence_locker.log_entries
           WHERE bundle_id = $1 AND entry_type = 'seal'`,
          [earlier.bundle_id],
        )
      ).rows[0],
  );
  return {
    ...resultOf(earlier),
    ...(log
      ? {
          log: {
            entryDigest: log.entry_digest,
            status: log.log_index === null ? ('pending' as const) : ('integrated' as const),
            ...(log.log_index !== null ? { index: Number(log.log_index) } : {}),
          },
        }
      : {}),
  };
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === '23505';
}

async function removeUnrecorded(deps: ServiceDeps, ctx: TenantCtx, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  // Under the claim lock of each key: one a concurrent request has recorded meanwhile stays.
  await ctx.transaction((tx) => removeUnreferenced(tx, deps.store, keys)).catch(() => undefined);
}

export const RESULT_COLUMNS = 'bundle_id, root_hash, manifest_digest, key_id, timestamp_gen_time, timestamp_tsa';

export type BundleResultRow = {
  bundle_id: string;
  root_hash: string;
  manifest_digest: string;
  key_id: string;
  timestamp_gen_time: Date | string | null;
  timestamp_tsa: string | null;
};

export function resultOf(row: BundleResultRow): SnapshotResult {
  return {
    bundleId: row.bundle_id,
    rootHash: row.root_hash,
    manifestDigest: row.manifest_digest,
    keyId: row.key_id,
    ...(row.timestamp_gen_time
      ? { timestamp: { genTime: new Date(row.timestamp_gen_time).toISOString(), tsa: row.timestamp_tsa ?? '' } }
      : {}),
  };
}
