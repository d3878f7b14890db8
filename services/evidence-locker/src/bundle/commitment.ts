/**
 * How a manifest entry commits to an artifact's content without disclosing its digest (ADR 0011).
 *
 * A plain `sha256:` digest in a Merkle leaf lets anyone holding the leaf test guesses of a small
 * withheld artifact (`{"result":"pass"}`, a short config). The leaf therefore carries a hiding,
 * binding commitment instead:
 *
 *   salt       = HMAC-SHA256(key = tenant salt key, "stella-evidence-salt/v1" 0x00 tenant 0x00 path 0x00 digest)
 *   commitment = "hmac-sha256:" + hex(HMAC-SHA256(key = salt, ASCII digest))
 *
 * The salt is deterministic (same tenant, path and content → same salt → same leaf → same root,
 * so sealing the same inputs twice gives the same root) yet unguessable without the tenant's
 * secret key. The opening `{path, digest, salt}` of an artifact is disclosed when its content is;
 * a withheld artifact keeps only its entry, whose commitment reveals nothing of the content.
 * HMAC over the digest (not the content) keeps sealing to one pass over the bytes, and a verifier
 * needs only `sha256sum` and `openssl dgst -mac HMAC`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const COMMITMENT_PREFIX = 'hmac-sha256:';
export const COMMITMENT_PATTERN = '^hmac-sha256:[0-9a-f]{64}$';
export const SALT_PATTERN = '^[0-9a-f]{64}$';
const SALT_DOMAIN = 'stella-evidence-salt/v1';

/** What discloses one artifact: its real digest and the salt of its commitment. */
export interface ArtifactOpening {
  path: string;
  /** `sha256:<64 hex>` of the artifact's bytes. */
  digest: string;
  /** 64 hex: the HMAC key of the commitment. */
  salt: string;
}

/** The deterministic salt of one artifact of one tenant (`saltKey`: the tenant's secret). */
export function artifactSalt(saltKey: Uint8Array, tenant: string, path: string, digest: string): string {
  return createHmac('sha256', saltKey).update(`${SALT_DOMAIN}\0${tenant}\0${path}\0${digest}`, 'utf8').digest('hex');
}

/** The commitment a manifest entry carries for `digest` under `salt`. */
export function artifactCommitment(salt: string, digest: string): string {
  return COMMITMENT_PREFIX + createHmac('sha256', Buffer.from(salt, 'hex')).update(digest, 'ascii').digest('hex');
}

/** True when `opening` opens `commitment` (constant-time compare; malformed input is false). */
export function opens(commitment: string, opening: Pick<ArtifactOpening, 'digest' | 'salt'>): boolean {
  if (!new RegExp(SALT_PATTERN).test(opening.salt) || !/^sha256:[0-9a-f]{64}$/.test(opening.digest)) return false;
  const want = Buffer.from(artifactCommitment(opening.salt, opening.digest));
  const got = Buffer.from(commitment);
  return want.length === got.length && timingSafeEqual(want, got);
}
