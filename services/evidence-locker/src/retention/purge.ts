/**
 * One purge pass for one tenant (issue #8 item 5; docs/evidence/retention.md "Purge"):
 *
 * 1. finish tombstones an earlier pass committed but did not complete (crash recovery);
 * 2. expire holds whose `endsAt` has passed (recorded like a release, actor `system:…`);
 * 3. purge each expired, unheld bundle: ONE tenant transaction locks the bundle row, re-checks
 *    that it is expired and unheld, signs the tombstone, inserts it (with the object keys still to
 *    remove) and deletes the bundle's rows, the idempotency rows and the blob rows no other bundle
 *    references. A crash before that commit leaves the bundle whole; after it, the tombstone —
 *    never neither. Only then are the objects removed, and the tombstone marked finished.
 *
 * Holds and purges serialise on the bundle row: a hold locks it FOR KEY SHARE, the purge FOR
 * UPDATE (SKIP LOCKED: a bundle being held now is simply left for the next pass).
 */
import { sha256Digest } from '@stella/core/digest';
import { isStellaError } from '@stella/core/errors';
import type { ObjectStore } from '@stella/platform/object-store';
import { resolveSigner } from '@stella/platform/keys';
import type { TenantTx } from '@stella/platform/service';
import { recordCustody } from '../custody.js';
import { enqueueLogEntries, tombstoneEntry } from '../log/log-entries.js';
import { activeIncident } from '../incident/incident.js';
import { tombstoneKey } from '../settings.js';
import { formatDuration } from './duration.js';
import { loadPolicy } from './policy.js';
import { signTombstone, type AppliedPolicy } from './tombstone.js';

/** Where a purge may be interrupted (tests kill the process at each). */
export type PurgeStage = 'tombstone-signed' | 'committed' | 'object-removed';

export interface PurgeContext {
  tenant: string;
  /** Who purges: the worker's system actor, or the caller of `POST /evidence/retention/purge`. */
  actor: string;
  requestId?: string;
  transaction<T>(fn: (tx: TenantTx) => Promise<T>): Promise<T>;
  store: ObjectStore;
  signingKey: string;
  incidentExtensionSeconds: number;
  /** The instant the pass decides by (default: now). */
  now?: Date;
  /** At most this many bundles per pass (default 100). */
  batch?: number;
  /** Test hook: called at each stage; a throw or a kill there is a crash at that point. */
  onStage?: (stage: PurgeStage, bundleId: string) => Promise<void> | void;
}

export interface PurgedBundle {
  bundleId: string;
  rootHash: string;
  policy: AppliedPolicy;
}

export interface PurgeResult {
  purged: PurgedBundle[];
  expiredHolds: string[];
  /** Tombstones of earlier passes completed now. */
  finished: number;
  /** Tombstones whose objects could not all be removed yet (e.g. store retention); retried. */
  pending: number;
}

/** Active holds as of `$1` (an expired `endsAt` no longer protects, even before it is recorded). */
const HELD = `EXISTS (SELECT 1 FROM evidence_locker.hold_bundles m JOIN evidence_locker.holds h ON h.case_id = m.case_id
  WHERE m.bundle_id = b.bundle_id AND h.released_at IS NULL AND (h.ends_at IS NULL OR h.ends_at > $1))`;
/** Seconds an unheld bundle of kind `b.kind` is kept, from policy `p` plus `$2` (incident). */
const KEEP = `COALESCE((p.kind_keep_seconds ->> b.kind)::bigint, p.default_keep_seconds)`;
const EXPIRED = `${KEEP} IS NOT NULL AND b.created_at + (${KEEP} + $2::bigint) * interval '1 second' <= $1`;

interface CandidateRow {
  [k: string]: unknown;
  bundle_id: string;
  kind: string;
  created_at: Date;
  root_hash: string;
  manifest_digest: string;
  archive_digest: string;
  archive_key: string;
  keep: string;
  by_kind: boolean;
}

export async function purgeTenant(ctx: PurgeContext): Promise<PurgeResult> {
  const now = ctx.now ?? new Date();
  const result: PurgeResult = { purged: [], expiredHolds: [], finished: 0, pending: 0 };
  result.finished = await finishPending(ctx);
  result.expiredHolds = await expireHolds(ctx, now);

  const { ids, extension } = await ctx.transaction(async (tx) => {
    const ext = (await activeIncident(tx)) ? ctx.incidentExtensionSeconds : 0;
    const r = await tx.query<{ bundle_id: string }>(
      `SELECT b.bundle_id FROM evidence_locker.bundles b CROSS JOIN evidence_locker.retention_policies p
       WHERE ${EXPIRED} AND NOT ${HELD} ORDER BY b.created_at, b.bundle_id LIMIT $3`,
      [now, ext, ctx.batch ?? 100],
    );
    return { ids: r.rows.map((row) => row.bundle_id), extension: ext };
  });
  if (ids.length === 0) return { ...result, pending: await countPending(ctx) };

  const signer = await resolveSigner(ctx.signingKey);
  try {
    for (const id of ids) {
      const purged = await purgeOne(ctx, id, now, extension, signer);
      if (purged) result.purged.push(purged);
    }
  } finally {
    await signer.close();
  }
  return { ...result, pending: await countPending(ctx) };
}

async function purgeOne(
  ctx: PurgeContext,
  id: string,
  now: Date,
  extension: number,
  signer: Awaited<ReturnType<typeof resolveSigner>>,
): Promise<PurgedBundle | undefined> {
  const done = await ctx.transaction(async (tx) => {
    // Re-checked under the row lock: a hold placed since the candidate query wins.
    const r = await tx.query<CandidateRow>(
      `SELECT b.bundle_id, b.kind, b.created_at, b.root_hash, b.manifest_digest, b.archive_digest, b.archive_key,
         ${KEEP}::text AS keep, (p.kind_keep_seconds ? b.kind) AS by_kind
       FROM evidence_locker.bundles b CROSS JOIN evidence_locker.retention_policies p
       WHERE b.bundle_id = $3 AND ${EXPIRED} AND NOT ${HELD}
       FOR UPDATE OF b SKIP LOCKED`,
      [now, extension, id],
    );
    const b = r.rows[0];
    if (!b) return undefined;
    // READ COMMITTED: the statement above judged "unheld" on a snapshot taken before it got the
    // lock, and a hold that committed in between did not change the bundle row, so PostgreSQL did
    // not re-check it. Now that we hold the lock no hold can add this bundle (it needs KEY SHARE),
    // and a fresh statement sees every hold that committed before: ask again.
    const free = await tx.query(`SELECT 1 FROM evidence_locker.bundles b WHERE b.bundle_id = $2 AND NOT ${HELD}`, [
      now,
      id,
    ]);
    if (free.rows.length === 0) return undefined;
    const policy = await loadPolicy(tx);
    const keep = Number(b.keep);
    const sealedAt = new Date(b.created_at);
    const applied: AppliedPolicy = {
      version: policy!.version,
      rule: b.by_kind ? 'kind' : 'default',
      keepFor: formatDuration(keep),
      incidentExtension: extension ? formatDuration(extension) : null,
      expiresAt: new Date(sealedAt.getTime() + (keep + extension) * 1000).toISOString(),
    };
    const reason = `retention expired: kept ${applied.keepFor}${extension ? ` + ${applied.incidentExtension} (incident)` : ''} after sealing (policy v${applied.version}, ${applied.rule} rule)`;
    const signed = await signTombstone(
      {
        bundleId: id,
        kind: b.kind,
        rootHash: b.root_hash,
        manifestDigest: b.manifest_digest,
        archiveDigest: b.archive_digest,
        sealedAt,
        purgedAt: now,
        reason,
        policy: applied,
      },
      signer,
    );
    await ctx.onStage?.('tombstone-signed', id);

    const artifacts = await tx.query<{ digest: string }>(
      'DELETE FROM evidence_locker.artifacts WHERE bundle_id = $1 RETURNING digest',
      [id],
    );
    await tx.query('DELETE FROM evidence_locker.snapshot_requests WHERE bundle_id = $1', [id]);
    await tx.query('DELETE FROM evidence_locker.bundles WHERE bundle_id = $1', [id]);
    // Blobs are content-addressed per tenant and shared by every bundle naming the digest: only
    // those no remaining artifact references go (their rows now, their objects after the commit).
    const freed = await tx.query<{ object_key: string; size: string }>(
      `DELETE FROM evidence_locker.blobs bl WHERE bl.digest = ANY($1::text[])
       AND NOT EXISTS (SELECT 1 FROM evidence_locker.artifacts a WHERE a.digest = bl.digest)
       RETURNING bl.object_key, bl.size::text AS size`,
      [[...new Set(artifacts.rows.map((a) => a.digest))]],
    );
    const freedBytes = freed.rows.reduce((n, f) => n + Number(f.size), 0);
    if (freedBytes > 0)
      await tx.query('UPDATE evidence_locker.tenant_usage SET blob_bytes = blob_bytes - $1', [freedBytes]);
    const objectKey = tombstoneKey(ctx.tenant, id);
    await tx.query(
      `INSERT INTO evidence_locker.tombstones (bundle_id, kind, root_hash, manifest_digest, archive_digest, sealed_at,
         purged_at, reason, policy, envelope_json, key_id, public_key_pem, object_key, pending_keys)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14::text[])`,
      [
        id,
        b.kind,
        b.root_hash,
        b.manifest_digest,
        b.archive_digest,
        sealedAt,
        now,
        reason,
        JSON.stringify(applied),
        signed.envelopeJson,
        signed.keyId,
        signed.publicKeyPem,
        objectKey,
        [b.archive_key, ...freed.rows.map((f) => f.object_key)],
      ],
    );
    // The tombstone's log entry, in the purge's own transaction (ADR 0013): logged iff purged.
    await enqueueLogEntries(tx, [
      tombstoneEntry({
        bundleId: id,
        rootHash: b.root_hash,
        manifestDigest: b.manifest_digest,
        purgedAt: now,
        tombstoneJson: signed.envelopeJson,
      }),
    ]);
    const evidence = [{ bundleId: id, digest: b.archive_digest, manifestDigest: b.manifest_digest }];
    await recordCustody(tx, {
      action: 'purge',
      bundleId: id,
      actor: ctx.actor,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      details: { reason, policy: applied, rootHash: b.root_hash, blobsFreed: freed.rows.length },
      evidence,
    });
    await tx.audit({ action: 'evidence.purge', resource: id, details: { reason, policyVersion: applied.version } });
    await tx.publish({
      kind: 'evidence.bundle.purged',
      subject: id,
      attributes: { bundleId: id, kind: b.kind, policyVersion: applied.version, rule: applied.rule },
      payload: { reason, policy: applied, rootHash: b.root_hash },
      evidence,
    });
    return { bundleId: id, rootHash: b.root_hash, policy: applied };
  });
  if (!done) return undefined;
  await ctx.onStage?.('committed', id);
  await finishTombstone(ctx, id);
  return done;
}

interface PendingRow {
  [k: string]: unknown;
  bundle_id: string;
  envelope_json: string;
  object_key: string;
  pending_keys: string[];
}

async function finishPending(ctx: PurgeContext): Promise<number> {
  const ids = await ctx.transaction(
    async (tx) =>
      (
        await tx.query<{ bundle_id: string }>(
          'SELECT bundle_id FROM evidence_locker.tombstones WHERE finished_at IS NULL ORDER BY purged_at LIMIT 1000',
        )
      ).rows,
  );
  let finished = 0;
  for (const { bundle_id } of ids) if (await finishTombstone(ctx, bundle_id)) finished++;
  return finished;
}

async function countPending(ctx: PurgeContext): Promise<number> {
  return ctx.transaction(async (tx) => {
    const r = await tx.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM evidence_locker.tombstones WHERE finished_at IS NULL',
    );
    return Number(r.rows[0]!.n);
  });
}

/**
 * Stores the tombstone object and removes the purged bundle's objects; idempotent, so a pass
 * after a crash simply does it again. True when nothing is left to remove.
 */
async function finishTombstone(ctx: PurgeContext, bundleId: string): Promise<boolean> {
  const t = await ctx.transaction(
    async (tx) =>
      (
        await tx.query<PendingRow>(
          `SELECT bundle_id, envelope_json, object_key, pending_keys FROM evidence_locker.tombstones
           WHERE bundle_id = $1 AND finished_at IS NULL`,
          [bundleId],
        )
      ).rows[0],
  );
  if (!t) return false;
  const bytes = Buffer.from(t.envelope_json, 'utf8');
  // A retry finds the object already written (and, on a WORM bucket with default retention, not
  // overwritable): the same digest means it is done.
  const digest = sha256Digest(bytes);
  const existing = (await ctx.store.exists(t.object_key)) ? await ctx.store.head(t.object_key) : undefined;
  if (existing?.digest !== digest)
    await ctx.store.put(t.object_key, bytes, {
      expectedDigest: digest,
      size: bytes.byteLength,
      contentType: 'application/json',
    });
  const left: string[] = [];
  for (const key of t.pending_keys) {
    if (!(await removeObject(ctx, key))) left.push(key);
    await ctx.onStage?.('object-removed', bundleId);
  }
  await ctx.transaction((tx) =>
    tx.query(
      `UPDATE evidence_locker.tombstones SET pending_keys = $2::text[], finished_at = CASE WHEN cardinality($2::text[]) = 0 THEN $3::timestamptz END
       WHERE bundle_id = $1`,
      [bundleId, left, new Date()],
    ),
  );
  return left.length === 0;
}

/** Removes one object of a purged bundle; false when it must stay for now (store retention). */
async function removeObject(ctx: PurgeContext, key: string): Promise<boolean> {
  // A blob uploaded again since the purge committed has a row once more: its object is live.
  const live = await ctx.transaction(
    async (tx) => (await tx.query('SELECT 1 FROM evidence_locker.blobs WHERE object_key = $1', [key])).rows.length > 0,
  );
  if (live) return true;
  try {
    await ctx.store.delete(key);
    return true;
  } catch (err) {
    if (isStellaError(err) && err.code === 'OBJECT_NOT_FOUND') return true;
    if (!(isStellaError(err) && err.code === 'OBJECT_RETAINED')) throw err;
  }
  // OBJECT_RETAINED: a legal hold the database no longer backs (the bundle is gone, so no hold
  // covers it — a release whose store call did not complete) is lifted; a retain-until date
  // cannot be, and the key stays pending until it passes.
  const info = await ctx.store.head(key);
  if (!info.legalHold) return false;
  await ctx.store.setLegalHold(key, false);
  try {
    await ctx.store.delete(key);
    return true;
  } catch (err) {
    if (isStellaError(err) && err.code === 'OBJECT_RETAINED') return false;
    throw err;
  }
}

/**
 * Holds past their `endsAt`: released as of that instant by the system (custody `hold-expired`,
 * `evidence.hold.released` with `expired: true`); archives no other active hold covers lose their
 * store legal hold after the commit. Returns the case ids.
 */
async function expireHolds(ctx: PurgeContext, now: Date): Promise<string[]> {
  const { cases, unheld } = await ctx.transaction(async (tx) => {
    const due = await tx.query<{ case_id: string; ends_at: Date; bundle_ids: string[] | null }>(
      `SELECT h.case_id, h.ends_at,
         (SELECT array_agg(m.bundle_id ORDER BY m.bundle_id) FROM evidence_locker.hold_bundles m WHERE m.case_id = h.case_id) AS bundle_ids
       FROM evidence_locker.holds h WHERE h.released_at IS NULL AND h.ends_at <= $1 ORDER BY h.case_id FOR UPDATE OF h`,
      [now],
    );
    const covered = new Set<string>();
    for (const h of due.rows) {
      const endsAt = new Date(h.ends_at).toISOString();
      await tx.query(
        `UPDATE evidence_locker.holds SET released_at = $2, released_by = $3, release_reason = $4 WHERE case_id = $1`,
        [h.case_id, h.ends_at, ctx.actor, `endsAt ${endsAt} reached`],
      );
      const ids = h.bundle_ids ?? [];
      for (const id of ids) {
        covered.add(id);
        await recordCustody(tx, {
          action: 'hold-expired',
          bundleId: id,
          actor: ctx.actor,
          details: { caseId: h.case_id, endsAt },
        });
      }
      await tx.audit({ action: 'evidence.hold.expire', resource: h.case_id, details: { endsAt } });
      await tx.publish({
        kind: 'evidence.hold.released',
        subject: h.case_id,
        attributes: { caseId: h.case_id, bundles: ids.length, expired: true },
        payload: { bundleIds: ids, reason: `endsAt ${endsAt} reached` },
      });
    }
    const free = await tx.query<{ archive_key: string }>(
      `SELECT b.archive_key FROM evidence_locker.bundles b WHERE b.bundle_id = ANY($2::text[]) AND NOT ${HELD}`,
      [now, [...covered]],
    );
    return { cases: due.rows.map((h) => h.case_id), unheld: free.rows.map((r) => r.archive_key) };
  });
  for (const key of unheld)
    await ctx.store.setLegalHold(key, false).catch((err: unknown) => {
      if (!(isStellaError(err) && err.code === 'OBJECT_NOT_FOUND')) throw err;
    });
  return cases;
}
