import canonicalize from 'canonicalize';
import { parseJson } from '../canonical-json/index.js';
import { StellaError } from '../errors/index.js';
import {
  OCI_MEDIA_TYPES,
  type OciBuilt,
  type OciDescriptor,
  type OciImageIndex,
  type OciImageManifest,
} from './oci-types.js';
import {
  emptyConfigDescriptor,
  isMediaType,
  ociInvalid,
  parseAnnotations,
  parseDescriptor,
  sha256Digest,
} from './oci-descriptor.js';

/**
 * Largest manifest or index we build or accept: 4 MiB, the limit of distribution 2.8
 * (`maxManifestBodySize = 4 << 20`) and the size distribution-spec says clients can rely on.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** The exact bytes of the `oci-layout` file: `{"imageLayoutVersion":"1.0.0"}` (image-layout.md); a fresh copy each call. */
export function ociLayoutFileBytes(): Uint8Array {
  return new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');
}

/**
 * Serialises an OCI JSON document as RFC 8785 canonical JSON (sorted keys, no whitespace): any
 * JSON is acceptable to registries and tools, and canonical JSON makes the bytes — hence the digest
 * — depend only on the content.
 */
export function serializeOciJson(value: unknown): Uint8Array {
  let s: string | undefined;
  try {
    s = canonicalize(value);
  } catch (e) {
    throw new StellaError('OCI_INVALID', 'document cannot be serialised as canonical JSON', { cause: e });
  }
  if (s === undefined) throw new StellaError('OCI_INVALID', 'document cannot be serialised as canonical JSON');
  const bytes = new TextEncoder().encode(s);
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    ociInvalid('document', `is ${bytes.byteLength} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  return bytes;
}

/** Options of {@link buildManifest}. */
export interface BuildManifestOptions {
  /** Required when `config` is the empty descriptor (the default). */
  artifactType?: string;
  /** Config descriptor; default {@link emptyConfigDescriptor}. */
  config?: OciDescriptor;
  /** Layer descriptors in order. An artifact with an empty config and no layers gets one empty layer. */
  layers: OciDescriptor[];
  /** The manifest this one refers to (referrers API). */
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

/**
 * Builds an image manifest v1.1 (schemaVersion 2, mediaType set) and its canonical bytes and
 * descriptor. Follows the artifact guidance of image-spec v1.1: empty config ⇒ `artifactType`
 * required; no files ⇒ a single empty layer. Validates every descriptor (OCI_INVALID).
 */
export function buildManifest(opts: BuildManifestOptions): OciBuilt<OciImageManifest> {
  const config = opts.config ?? emptyConfigDescriptor();
  const layers =
    opts.layers.length === 0 && config.mediaType === OCI_MEDIA_TYPES.empty ? [emptyConfigDescriptor()] : opts.layers;
  const m: OciImageManifest = { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.manifest, config, layers };
  if (opts.artifactType !== undefined) m.artifactType = opts.artifactType;
  if (opts.subject !== undefined) m.subject = opts.subject;
  if (opts.annotations !== undefined && Object.keys(opts.annotations).length > 0)
    m.annotations = { ...opts.annotations };
  validateManifest(m);
  return built(m, OCI_MEDIA_TYPES.manifest, m.artifactType);
}

/** Options of {@link buildIndex}. */
export interface BuildIndexOptions {
  /** Manifest (or nested index) descriptors, in the order given. */
  manifests: OciDescriptor[];
  artifactType?: string;
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

/** Builds an image index (schemaVersion 2, mediaType set) with canonical bytes and descriptor. */
export function buildIndex(opts: BuildIndexOptions): OciBuilt<OciImageIndex> {
  const idx: OciImageIndex = { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests: [...opts.manifests] };
  if (opts.artifactType !== undefined) idx.artifactType = opts.artifactType;
  if (opts.subject !== undefined) idx.subject = opts.subject;
  if (opts.annotations !== undefined && Object.keys(opts.annotations).length > 0)
    idx.annotations = { ...opts.annotations };
  validateIndex(idx);
  return built(idx, OCI_MEDIA_TYPES.index, idx.artifactType);
}

function built<T>(value: T, mediaType: string, artifactType: string | undefined): OciBuilt<T> {
  const bytes = serializeOciJson(value);
  const descriptor: OciDescriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  return { value, bytes, descriptor };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonDocument(input: Uint8Array | string, what: string): Record<string, unknown> {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > MAX_MANIFEST_BYTES) ociInvalid(what, `is ${size} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  // The strict parser (ADR 0006): duplicate member names would let two readers of the same
  // digest-pinned bytes see different manifests (JSON.parse keeps the last one).
  let v: unknown;
  try {
    v = parseJson(input);
  } catch (e) {
    return ociInvalid(what, `is not strict JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(v)) ociInvalid(what, 'must be a JSON object');
  return v;
}

function validateCommon(v: Record<string, unknown>, what: string, mediaType: string): void {
  if (v.schemaVersion !== 2) ociInvalid(`${what}.schemaVersion`, 'must be 2');
  if (v.mediaType !== undefined && v.mediaType !== mediaType)
    ociInvalid(`${what}.mediaType`, `must be ${mediaType}`, { value: String(v.mediaType).slice(0, 200) });
  if (v.artifactType !== undefined && !isMediaType(v.artifactType))
    ociInvalid(`${what}.artifactType`, 'must be a media type');
  if (v.subject !== undefined) parseDescriptor(v.subject, `${what}.subject`);
  if (v.annotations !== undefined) parseAnnotations(v.annotations, `${what}.annotations`);
}

/**
 * Checks an image manifest object (image-spec v1.1 `manifest.md`): schemaVersion 2, mediaType
 * (if present) the manifest type, `config` and every `layers[i]` valid descriptors, no
 * `manifests` field (which would make it ambiguous with an index), and `artifactType` present
 * when the config is the empty descriptor. Throws OCI_INVALID.
 */
export function validateManifest(v: unknown): OciImageManifest {
  if (!isPlainObject(v)) ociInvalid('manifest', 'must be an object');
  validateCommon(v, 'manifest', OCI_MEDIA_TYPES.manifest);
  if (v.manifests !== undefined)
    ociInvalid('manifest.manifests', 'an image manifest must not have manifests (is this an index?)');
  const config = parseDescriptor(v.config, 'manifest.config');
  if (!Array.isArray(v.layers)) ociInvalid('manifest.layers', 'must be an array');
  v.layers.forEach((l, i) => parseDescriptor(l, `manifest.layers[${i}]`));
  if (config.mediaType === OCI_MEDIA_TYPES.empty && v.artifactType === undefined) {
    ociInvalid('manifest.artifactType', 'must be set when config is the empty descriptor');
  }
  return v as unknown as OciImageManifest;
}

/** Checks an image index object (`image-index.md`): schemaVersion 2, mediaType, descriptors. Throws OCI_INVALID. */
export function validateIndex(v: unknown): OciImageIndex {
  if (!isPlainObject(v)) ociInvalid('index', 'must be an object');
  validateCommon(v, 'index', OCI_MEDIA_TYPES.index);
  if (v.config !== undefined || v.layers !== undefined)
    ociInvalid('index', 'an image index must not have config or layers (is this a manifest?)');
  if (!Array.isArray(v.manifests)) ociInvalid('index.manifests', 'must be an array');
  v.manifests.forEach((m, i) => parseDescriptor(m, `index.manifests[${i}]`));
  return v as unknown as OciImageIndex;
}

/** Parses and validates manifest bytes (≤ 4 MiB, UTF-8 JSON). Throws OCI_INVALID. */
export function parseManifest(input: Uint8Array | string): OciImageManifest {
  return validateManifest(parseJsonDocument(input, 'manifest'));
}

/** Parses and validates index bytes (≤ 4 MiB, UTF-8 JSON). Throws OCI_INVALID. */
export function parseIndex(input: Uint8Array | string): OciImageIndex {
  return validateIndex(parseJsonDocument(input, 'index'));
}

/**
 * Parses bytes that are either a manifest or an index. The kind comes from `mediaType` (or the
 * descriptor's media type when the document omits it, as skopeo's index.json does), else from
 * the presence of `manifests` vs `config`. When both the document and the descriptor name a media
 * type they must agree (image-spec `descriptor.md`: mediaType is the type of the referenced
 * content), so a descriptor cannot present a manifest as an index or the other way round.
 */
export function parseManifestOrIndex(
  input: Uint8Array | string,
  hintMediaType?: string,
): { kind: 'manifest'; manifest: OciImageManifest } | { kind: 'index'; index: OciImageIndex } {
  const v = parseJsonDocument(input, 'document');
  if (hintMediaType !== undefined && v.mediaType !== undefined && v.mediaType !== hintMediaType)
    ociInvalid('document.mediaType', `is ${JSON.stringify(v.mediaType)} but its descriptor says ${hintMediaType}`, {
      value: String(v.mediaType).slice(0, 200),
      descriptorMediaType: hintMediaType,
    });
  const mt = typeof v.mediaType === 'string' ? v.mediaType : hintMediaType;
  const isIndex = mt === OCI_MEDIA_TYPES.index || (mt === undefined && v.manifests !== undefined);
  const isManifest = mt === OCI_MEDIA_TYPES.manifest || (mt === undefined && v.config !== undefined);
  if (isIndex) return { kind: 'index', index: validateIndex(v) };
  if (isManifest) return { kind: 'manifest', manifest: validateManifest(v) };
  return ociInvalid(
    'document.mediaType',
    `unsupported media type ${JSON.stringify(mt ?? null)} (expected an OCI manifest or index)`,
  );
}

/** Validates the content of an `oci-layout` file: a JSON object with `imageLayoutVersion` "1.0.0". */
export function parseOciLayoutFile(input: Uint8Array | string): { imageLayoutVersion: '1.0.0' } {
  const v = parseJsonDocument(input, 'oci-layout');
  if (v.imageLayoutVersion !== '1.0.0')
    ociInvalid('oci-layout.imageLayoutVersion', 'must be "1.0.0"', {
      value: String(v.imageLayoutVersion).slice(0, 50),
    });
  return v as { imageLayoutVersion: '1.0.0' };
}
