import { createHash } from 'node:crypto';
import { StellaError } from '../errors/index.js';
import { OCI_MEDIA_TYPES, OCI_ANNOTATIONS, type OciDescriptor } from './oci-types.js';

/**
 * The content of the OCI empty descriptor: the two bytes `{}` (image-spec `manifest.md` §Guidance
 * for an Empty Descriptor). A fresh copy each call, so no caller can alter another's bytes.
 */
export function emptyJsonBytes(): Uint8Array {
  return new Uint8Array([0x7b, 0x7d]);
}
/** sha256 of `{}` — the well-known digest of the empty descriptor. */
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

// RFC 6838 §4.2 restricted-name grammar, as the image-spec JSON schema uses it.
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
// image-spec `descriptor.md` §Registered algorithms: only sha256 and sha512 can be verified, and
// their encoded part MUST be lowercase hex of the full length. Other algorithms are refused.
const DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// image-layout `index.json` §ref.name grammar: component ("/" component)*, component = alphanum
// (separator alphanum)*, separator = [-._:@+] | "--".
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** Throws OCI_INVALID naming the offending JSON location. */
export function ociInvalid(where: string, why: string, details: Record<string, unknown> = {}): never {
  throw new StellaError('OCI_INVALID', `${where}: ${why}`, { details: { where, ...details } });
}

/** True when `s` is a media type per RFC 6838 (type/subtype, no parameters). */
export function isMediaType(s: unknown): s is string {
  return typeof s === 'string' && MEDIA_TYPE_RE.test(s);
}

/** True when `s` is `sha256:<64 hex>` or `sha512:<128 hex>` (lowercase). */
export function isOciDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** True when `s` is a valid `org.opencontainers.image.ref.name` value (image-layout grammar). */
export function isRefName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 255 && REF_NAME_RE.test(s);
}

/** `sha256:<hex>` of `bytes`. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Digest of `bytes` with the algorithm of `like` (`sha256:` or `sha512:`). */
export function digestWithAlgorithmOf(like: string, bytes: Uint8Array): string {
  const alg = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${alg}:${createHash(alg).update(bytes).digest('hex')}`;
}

/**
 * The empty descriptor `{mediaType: application/vnd.oci.empty.v1+json, digest: sha256:4413…8a,
 * size: 2}` — config of artifacts that have no config, and the single layer of artifacts with no
 * files (image-spec v1.1 §Guidelines for Artifact Usage). `withData` embeds `"data":"e30="`.
 */
export function emptyConfigDescriptor(opts: { withData?: boolean } = {}): OciDescriptor {
  return {
    mediaType: OCI_MEDIA_TYPES.empty,
    digest: EMPTY_JSON_DIGEST,
    size: 2,
    ...(opts.withData ? { data: 'e30=' } : {}),
  };
}

/**
 * A descriptor of `bytes` (sha256). `opts.annotations` are copied; `opts.title` sets
 * `org.opencontainers.image.title` (the file name oras and Trivy use for a layer).
 */
export function descriptorFor(
  bytes: Uint8Array,
  mediaType: string,
  opts: { annotations?: Record<string, string>; title?: string; artifactType?: string; embedData?: boolean } = {},
): OciDescriptor {
  const annotations = {
    ...(opts.annotations ?? {}),
    ...(opts.title !== undefined ? { [OCI_ANNOTATIONS.title]: opts.title } : {}),
  };
  const d: OciDescriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
  if (opts.artifactType !== undefined) d.artifactType = opts.artifactType;
  if (Object.keys(annotations).length > 0) d.annotations = annotations;
  if (opts.embedData) d.data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return parseDescriptor(d);
}

/** Returns a copy of `d` tagged with `org.opencontainers.image.ref.name` = `refName` (for index.json). */
export function withRefName(d: OciDescriptor, refName: string): OciDescriptor {
  if (!isRefName(refName))
    ociInvalid('ref.name', `${JSON.stringify(refName)} does not match the image-layout ref grammar`);
  return { ...d, annotations: { ...(d.annotations ?? {}), [OCI_ANNOTATIONS.refName]: refName } };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates an annotations map (string → string). */
export function parseAnnotations(v: unknown, where: string): Record<string, string> {
  if (!isPlainObject(v)) ociInvalid(where, 'annotations must be an object');
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') ociInvalid(`${where}.${k}`, 'annotation values must be strings');
  }
  return v as Record<string, string>;
}

/**
 * Validates a descriptor (image-spec `descriptor.md`): mediaType per RFC 6838, digest of a
 * registered algorithm, size a non-negative safe integer, `urls` strings that parse as URLs,
 * string annotations, `data` (if any) strict base64 whose bytes match `size` and `digest`,
 * `artifactType` a media type. Unknown fields are kept (the spec says to ignore them).
 * Throws OCI_INVALID with `details.where` pointing at the bad field.
 */
export function parseDescriptor(v: unknown, where = 'descriptor'): OciDescriptor {
  if (!isPlainObject(v)) ociInvalid(where, 'must be an object');
  if (!isMediaType(v.mediaType))
    ociInvalid(`${where}.mediaType`, 'must be a media type (RFC 6838)', { value: String(v.mediaType).slice(0, 200) });
  if (!isOciDigest(v.digest))
    ociInvalid(`${where}.digest`, 'must be sha256:<64 lowercase hex> or sha512:<128 lowercase hex>', {
      value: String(v.digest).slice(0, 200),
    });
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0)
    ociInvalid(`${where}.size`, 'must be a non-negative integer');
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls)) ociInvalid(`${where}.urls`, 'must be an array');
    v.urls.forEach((u, i) => {
      if (typeof u !== 'string' || !URL.canParse(u)) ociInvalid(`${where}.urls[${i}]`, 'must be a URL');
    });
  }
  if (v.annotations !== undefined) parseAnnotations(v.annotations, `${where}.annotations`);
  if (v.artifactType !== undefined && !isMediaType(v.artifactType))
    ociInvalid(`${where}.artifactType`, 'must be a media type');
  if (v.data !== undefined) {
    if (typeof v.data !== 'string' || !BASE64_RE.test(v.data)) ociInvalid(`${where}.data`, 'must be base64');
    const bytes = Buffer.from(v.data, 'base64');
    // Node ignores non-zero padding bits; only the canonical encoding (RFC 4648 §3.5) is accepted.
    if (bytes.toString('base64') !== v.data) ociInvalid(`${where}.data`, 'is not canonical base64');
    if (bytes.length !== v.size) ociInvalid(`${where}.data`, `decodes to ${bytes.length} bytes but size is ${v.size}`);
    if (digestWithAlgorithmOf(v.digest, bytes) !== v.digest) ociInvalid(`${where}.data`, 'does not match digest');
  }
  if (v.platform !== undefined) {
    const p = v.platform;
    if (!isPlainObject(p) || typeof p.architecture !== 'string' || typeof p.os !== 'string')
      ociInvalid(`${where}.platform`, 'must have string architecture and os');
  }
  return v as unknown as OciDescriptor;
}
