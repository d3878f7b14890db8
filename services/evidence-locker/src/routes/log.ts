/**
 * The tenant's evidence transparency log over HTTP (issue 12 item 3; docs/evidence/transparency-log.md):
 * `GET /evidence/log` (origin, verifier key, size), `GET /evidence/log/checkpoint` (the signed
 * note, c2sp.org/tlog-checkpoint), `GET /evidence/log/tile/…` (c2sp.org/tlog-tiles paths, static:
 * a path never changes its bytes), inclusion proofs by bundle id, consistency proofs between two
 * sizes, and the lookup of entries by digest with their inclusion proofs.
 *
 * Tenant isolation: the log is chosen by the authenticated tenant (X-Stella-Tenant = the token's
 * tenant), never by the request, and the entry index behind bundle ids and digests is RLS-scoped
 * — another tenant's bundle is EVIDENCE_NOT_FOUND exactly like a missing one.
 */
import { createHash } from 'node:crypto';
import { StellaError, isStellaError } from '@stella/core/errors';
import { parseTilePath } from '@stella/core/tlog';
import { errorResponses, ifNoneMatchHits, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import type { PublishedCheckpoint, TransparencyLog } from '@stella/platform/tlog';
import { bundleEntries, entriesByDigest, proveRows } from '../log/log-proofs.js';
import { LogAccess } from '../log/tenant-log.js';
import { loadTombstone } from '../retention/tombstone-view.js';
import { evidenceSettings } from '../settings.js';
import { BUNDLE_ID_PATTERN, DIGEST_PATTERN, TAG } from './schemas.js';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const size = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const hashes = { type: 'array', items: { type: 'string', contentEncoding: 'base64' } } as const;

const InclusionProofSchema = {
  type: 'object',
  required: ['index', 'size', 'hashes'],
  additionalProperties: false,
  properties: { index: size, size, hashes },
} as const;

const EntrySchema = {
  type: 'object',
  required: ['type', 'bundleId', 'entryDigest', 'entry', 'status'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', enum: ['seal', 'hold', 'release', 'tombstone'] },
    bundleId: { type: 'string' },
    entryDigest: { type: 'string', pattern: DIGEST_PATTERN },
    entry: { type: 'string', contentEncoding: 'base64', description: 'The entry bytes (RFC 8785 JSON).' },
    status: { type: 'string', enum: ['pending', 'integrated'] },
    index: size,
    inclusionProof: InclusionProofSchema,
  },
} as const;

const EntriesResponse = {
  type: 'object',
  required: ['origin', 'size', 'entries'],
  additionalProperties: false,
  properties: {
    origin: { type: 'string' },
    size: { ...size, description: 'Tree size of `checkpoint`, which every inclusion proof is against.' },
    checkpoint: { type: 'string', description: 'The signed checkpoint note (absent while the log is empty).' },
    bundleId: { type: 'string' },
    entries: { type: 'array', items: EntrySchema },
  },
  examples: [
    {
      origin: 'stella.local/evidence/3f1c0a9b5e7d2c48',
      size: 3,
      checkpoint:
        'stella.local/evidence/3f1c0a9b5e7d2c48\n3\nq0Fj2bA0xP6m1aJx6qkq0Ckq0r1q0Fj2bA0xP6m1aJw=\n\n— stella.local/evidence/3f1c0a9b5e7d2c48 AbCdEf…\n',
      bundleId: '01JEXAMPLE0000000000000000',
      entries: [
        {
          type: 'seal',
          bundleId: '01JEXAMPLE0000000000000000',
          entryDigest: 'sha256:5d9a5f3c2b1e0d9c8b7a69584736251403f2e1d0c9b8a79685746352413f2e1d',
          entry: 'eyJidW5kbGVJZCI6Ii4uLiJ9',
          status: 'integrated',
          index: 2,
          inclusionProof: { index: 2, size: 3, hashes: ['q0Fj2bA0xP6m1aJx6qkq0Ckq0r1q0Fj2bA0xP6m1aJw='] },
        },
      ],
    },
  ],
} as const;

const InclusionQuery = {
  type: 'object',
  required: ['bundleId'],
  additionalProperties: false,
  properties: {
    bundleId: { type: 'string', pattern: BUNDLE_ID_PATTERN },
    size: { ...size, description: 'Prove against this earlier published checkpoint (default: the latest).' },
  },
} as const;

const EntriesQuery = {
  type: 'object',
  required: ['digest'],
  additionalProperties: false,
  properties: {
    digest: {
      type: 'string',
      pattern: DIGEST_PATTERN,
      description: "A bundle's Merkle root (sha256:<root hex>), manifest digest, tombstone digest or entry digest.",
    },
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
  },
} as const;

const ConsistencyQuery = {
  type: 'object',
  required: ['from'],
  additionalProperties: false,
  properties: {
    from: { ...size, description: 'The older tree size (e.g. of the checkpoint the auditor holds).' },
    to: { ...size, description: 'The newer tree size (default: the latest checkpoint).' },
  },
} as const;

const ConsistencyResponse = {
  type: 'object',
  required: ['origin', 'oldSize', 'newSize', 'hashes', 'newCheckpoint'],
  additionalProperties: false,
  properties: {
    origin: { type: 'string' },
    oldSize: size,
    newSize: size,
    hashes,
    oldCheckpoint: { type: 'string', description: 'The published checkpoint of `oldSize`, when there is one.' },
    newCheckpoint: { type: 'string' },
  },
  examples: [
    {
      origin: 'stella.local/evidence/3f1c0a9b5e7d2c48',
      oldSize: 2,
      newSize: 3,
      hashes: ['q0Fj2bA0xP6m1aJx6qkq0Ckq0r1q0Fj2bA0xP6m1aJw=', 'm1aJx6qkq0Ckq0r1q0Fj2bA0xP6m1aJwq0Fj2bA0xP4='],
      newCheckpoint: 'stella.local/evidence/3f1c0a9b5e7d2c48\n3\n…\n',
    },
  ],
} as const;

/** No checkpoint yet (nothing integrated): every proof needs one. */
function emptyLog(): StellaError {
  return new StellaError('NOT_FOUND', 'the evidence log has no checkpoint yet (nothing sealed, or not integrated yet)');
}

export function logRoutes(deps: ServiceDeps) {
  const settings = evidenceSettings(deps.settings);
  const access = new LogAccess({
    db: deps.db,
    store: deps.store,
    signingKey: deps.signingKey,
    originPrefix: settings.logOrigin,
  });
  const verifierKey = (origin: string) => access.verifierKey(origin);
  const viewOf = (tenant: string): Promise<TransparencyLog> => access.view(tenant);
  const latest = async (log: TransparencyLog): Promise<PublishedCheckpoint & { note: string }> => {
    const cp = await log.checkpoint();
    if (!cp.note) throw emptyLog();
    return cp as PublishedCheckpoint & { note: string };
  };
  const atSize = async (log: TransparencyLog, s: number | undefined) => {
    if (s === undefined) return latest(log);
    const cp = await log.checkpointAt(s);
    if (!cp)
      throw new StellaError('NOT_FOUND', `the evidence log published no checkpoint of size ${s}`, {
        details: { size: s },
      });
    return cp as PublishedCheckpoint & { note: string };
  };

  return (app: StellaApp) => {
    app.get(
      '/evidence/log',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "The tenant's evidence log: origin, note verifier key, latest size and root",
          response: {
            200: {
              type: 'object',
              required: ['origin', 'verifierKey', 'size', 'rootHash'],
              additionalProperties: false,
              properties: {
                origin: { type: 'string' },
                verifierKey: {
                  type: 'string',
                  description: 'c2sp.org/signed-note verifier key (`<name>+<hex id>+<base64>`) auditors pin.',
                },
                size,
                rootHash: { type: 'string', contentEncoding: 'base64' },
                checkpoint: { type: 'string' },
              },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const log = await viewOf(ctx.tenant);
        const cp = await log.checkpoint();
        return {
          origin: log.origin,
          verifierKey: await verifierKey(log.origin),
          size: cp.size,
          rootHash: b64(cp.rootHash),
          ...(cp.note ? { checkpoint: cp.note } : {}),
        };
      },
    );

    app.get(
      '/evidence/log/checkpoint',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'The latest signed checkpoint (c2sp.org/tlog-checkpoint), or an earlier one by size',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { size: { ...size, description: 'An earlier published checkpoint of this tree size.' } },
          },
          response: {
            200: { description: 'The signed note (text/plain; charset=utf-8)', type: 'string' },
            ...errorResponses(400, 404),
          },
        },
      },
      async (req, reply) => {
        const { size: s } = req.query as { size?: number };
        const log = await viewOf(deps.tenants.forRequest(req).tenant);
        const cp = await atSize(log, s);
        // The latest moves on; a checkpoint by size never changes.
        return reply
          .type('text/plain; charset=utf-8')
          .header('cache-control', s === undefined ? 'no-cache' : 'private, max-age=31536000, immutable')
          .send(cp.note);
      },
    );

    app.get(
      '/evidence/log/tile/*',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'A tile or entry bundle by its c2sp.org/tlog-tiles path (immutable, cacheable)',
          description:
            'Paths `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]` relative to /evidence/log/. ' +
            'A path never changes its bytes: `Cache-Control: private, immutable` (private: tiles are per tenant) ' +
            'and `ETag` = the sha256 of the bytes.',
          response: {
            200: { description: 'Tile bytes (application/octet-stream)', type: 'string', format: 'binary' },
            304: { description: 'Not modified (If-None-Match matched the ETag)', type: 'null' },
            ...errorResponses(400, 404, 500),
          },
        },
      },
      async (req, reply) => {
        const path = `tile/${(req.params as { '*': string })['*']}`;
        parseTilePath(path); // TLOG_PATH_INVALID (400) for anything else
        const log = await viewOf(deps.tenants.forRequest(req).tenant);
        let bytes: Uint8Array;
        try {
          bytes = await log.readPath(path);
        } catch (err) {
          // Not published (yet) is a 404; published but gone from or corrupt in storage stays a 500.
          if (isStellaError(err) && err.code === 'TLOG_TILE_MISSING' && !(err.details as { digest?: string })?.digest)
            throw new StellaError('NOT_FOUND', `${path} is not published in this log`, { details: { path } });
          throw err;
        }
        const etag = `"sha256:${createHash('sha256').update(bytes).digest('hex')}"`;
        reply.header('etag', etag).header('cache-control', 'private, max-age=31536000, immutable');
        if (ifNoneMatchHits(req.headers['if-none-match'], etag)) return reply.status(304).send();
        return reply.type('application/octet-stream').send(Buffer.from(bytes));
      },
    );

    app.get(
      '/evidence/log/proof/inclusion',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: "A bundle's log entries (seal, holds, releases, tombstone) with inclusion proofs",
          description:
            'Entries not yet integrated are `pending` (no index, no proof yet). A purged bundle still has its entries, ' +
            'its tombstone among them.',
          querystring: InclusionQuery,
          response: { 200: EntriesResponse, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const q = req.query as { bundleId: string; size?: number };
        const ctx = deps.tenants.forRequest(req);
        const rows = await ctx.transaction(async (tx) => {
          const r = await bundleEntries(tx, q.bundleId);
          if (r.length === 0 && !(await loadTombstone(tx, q.bundleId)))
            throw new StellaError('EVIDENCE_NOT_FOUND', `no evidence bundle ${q.bundleId}`, {
              details: { bundleId: q.bundleId },
            });
          return r;
        });
        const log = await viewOf(ctx.tenant);
        const cp = q.size === undefined ? await log.checkpoint() : await atSize(log, q.size);
        return {
          origin: log.origin,
          size: cp.size,
          ...(cp.note ? { checkpoint: cp.note } : {}),
          bundleId: q.bundleId,
          entries: await proveRows(log, rows, cp),
        };
      },
    );

    app.get(
      '/evidence/log/entries',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'Log entries naming a digest, each with its inclusion proof',
          querystring: EntriesQuery,
          response: { 200: EntriesResponse, ...errorResponses(400) },
        },
      },
      async (req) => {
        const q = req.query as { digest: string; limit: number };
        const ctx = deps.tenants.forRequest(req);
        const rows = await ctx.transaction((tx) => entriesByDigest(tx, q.digest, q.limit));
        const log = await viewOf(ctx.tenant);
        const cp = await log.checkpoint();
        return {
          origin: log.origin,
          size: cp.size,
          ...(cp.note ? { checkpoint: cp.note } : {}),
          entries: await proveRows(log, rows, cp),
        };
      },
    );

    app.get(
      '/evidence/log/proof/consistency',
      {
        config: tenantRoute('evidence:read'),
        schema: {
          tags: [TAG],
          summary: 'Consistency proof between two tree sizes (RFC 9162 §2.1.4): nothing removed or rewritten',
          querystring: ConsistencyQuery,
          response: { 200: ConsistencyResponse, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => {
        const q = req.query as { from: number; to?: number };
        const log = await viewOf(deps.tenants.forRequest(req).tenant);
        const to = await atSize(log, q.to);
        if (q.from > to.size)
          throw new StellaError(
            'TLOG_CONSISTENCY_SIZE_MISMATCH',
            `from (${q.from}) is beyond to (${to.size}): a consistency proof goes from an older to a newer tree`,
            { details: { from: q.from, to: to.size } },
          );
        const proof = await log.consistencyProof(q.from, to.size);
        const old = await log.checkpointAt(q.from);
        return {
          origin: log.origin,
          oldSize: proof.oldSize,
          newSize: proof.newSize,
          hashes: proof.hashes.map(b64),
          ...(old?.note ? { oldCheckpoint: old.note } : {}),
          newCheckpoint: to.note,
        };
      },
    );
  };
}
