/**
 * The evidence bundle manifest and its Merkle tree (DESIGN.md §4 "Evidence bundle";
 * docs/formats/evidence-bundle.md). Pure: no I/O.
 *
 * The Merkle tree covers the artifact entries only — leaf i is the RFC 8785 (JCS) bytes of
 * `manifest.artifacts[i]`, entries sorted by the UTF-8 bytes of their path, hashed per RFC 9162
 * §2.1.1 (leaf prefix 0x00, node prefix 0x01). `bundleId`, `createdAt`, `tenant` and `metadata`
 * are outside the leaves, so sealing the same artifacts twice yields the same root while each
 * bundle keeps its own manifest (and manifest digest).
 *
 * Since v2 (ADR 0011) an entry commits to its content with a salted `commitment` instead of the
 * plain digest, so that a withheld artifact cannot be guessed from its entry; the openings
 * (`{path, digest, salt}`) travel beside the manifest in `openings.jsonl`.
 */
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { MERKLE_ALGORITHM, inclusionProof, leafHash, merkleRoot } from '@stella/core/merkle';
import { compareUtf8 } from '@stella/core/tar';
import { artifactCommitment, artifactSalt, type ArtifactOpening } from './commitment.js';

/** `schema` member of every manifest this version writes (v2: salted commitments, ADR 0011). */
export const MANIFEST_SCHEMA = 'https://stella-ops.org/schemas/evidence-bundle/v2';
/** The first version (plain `digest` in each entry): still verified, no longer written. */
export const MANIFEST_SCHEMA_V1 = 'https://stella-ops.org/schemas/evidence-bundle/v1';

export const BUNDLE_KINDS = ['evaluation', 'job', 'export'] as const;
export type BundleKind = (typeof BUNDLE_KINDS)[number];

export const ARTIFACT_ROLES = ['input', 'output', 'env', 'log', 'metadata'] as const;
export type ArtifactRole = (typeof ARTIFACT_ROLES)[number];

/** One artifact as sealed: what the caller gave, with the size and digest of its bytes. */
export interface SealedArtifact {
  path: string;
  role: ArtifactRole;
  mediaType: string;
  size: number;
  /** `sha256:<64 hex>` of the artifact's bytes. */
  digest: string;
}

/** One artifact entry, exactly as it appears in `manifest.artifacts` (and as a Merkle leaf). */
export interface ArtifactEntry {
  path: string;
  role: ArtifactRole;
  mediaType: string;
  size: number;
  /** `hmac-sha256:<64 hex>`: HMAC-SHA256(salt, digest) — see commitment.ts. */
  commitment: string;
}

export interface BundleSubject {
  name?: string;
  digest: string;
}

export interface Manifest {
  schema: typeof MANIFEST_SCHEMA;
  bundleId: string;
  tenant: string;
  kind: BundleKind;
  /** RFC 3339, UTC, millisecond precision. */
  createdAt: string;
  subject?: BundleSubject;
  artifacts: ArtifactEntry[];
  merkle: { algorithm: typeof MERKLE_ALGORITHM; root: string; leafCount: number };
  metadata?: Record<string, JsonValue>;
}

export interface ManifestInput {
  bundleId: string;
  tenant: string;
  kind: BundleKind;
  createdAt: Date;
  subject?: BundleSubject;
  artifacts: readonly SealedArtifact[];
  metadata?: Record<string, JsonValue>;
  /** The tenant's secret salt key (32 bytes; ADR 0011). */
  saltKey: Uint8Array;
}

export interface BuiltManifest {
  manifest: Manifest;
  /** manifest.json: the RFC 8785 bytes of `manifest`. */
  bytes: Uint8Array;
  digest: string;
  /** One opening per entry, in manifest order. */
  openings: ArtifactOpening[];
}

/** Sorted by the UTF-8 bytes of the path: the manifest's order and the bundle archive's too. */
export function byPath<T extends { path: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => compareUtf8(a.path, b.path));
}

/** The leaf bytes of one entry (RFC 8785); any object form of an entry works (v1 entries too). */
export function leafBytes(entry: object): Uint8Array {
  return canonicalJcsBytes(entry as JsonValue);
}

/** RFC 9162 leaf hashes of entries already in manifest order. */
export function artifactLeafHashes(artifacts: readonly object[]): Uint8Array[] {
  return artifacts.map((a) => leafHash(leafBytes(a)));
}

/** The Merkle root (lower-case hex) over entries already in manifest order. */
export function artifactsRoot(artifacts: readonly object[]): string {
  return Buffer.from(merkleRoot(artifactLeafHashes(artifacts))).toString('hex');
}

/** Inclusion proof (hex hashes, bottom-up, RFC 9162 §2.1.3.1) of entry `index`. */
export function artifactInclusionProof(artifacts: readonly object[], index: number): string[] {
  return inclusionProof(artifactLeafHashes(artifacts), index).map((h) => Buffer.from(h).toString('hex'));
}

/** The manifest, its exact bytes (RFC 8785, which manifest.json holds) and the openings of its entries. */
export function buildManifest(input: ManifestInput): BuiltManifest {
  const sealed = byPath(input.artifacts);
  const openings: ArtifactOpening[] = sealed.map((a) => ({
    path: a.path,
    digest: a.digest,
    salt: artifactSalt(input.saltKey, input.tenant, a.path, a.digest),
  }));
  const artifacts: ArtifactEntry[] = sealed.map((a, i) => ({
    path: a.path,
    role: a.role,
    mediaType: a.mediaType,
    size: a.size,
    commitment: artifactCommitment(openings[i]!.salt, a.digest),
  }));
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    bundleId: input.bundleId,
    tenant: input.tenant,
    kind: input.kind,
    createdAt: input.createdAt.toISOString(),
    ...(input.subject ? { subject: input.subject } : {}),
    artifacts,
    merkle: { algorithm: MERKLE_ALGORITHM, root: artifactsRoot(artifacts), leafCount: artifacts.length },
    ...(input.metadata ? { metadata: input.metadata } : {}),
  };
  const bytes = canonicalJcsBytes(manifest as unknown as JsonValue);
  return { manifest, bytes, digest: sha256Digest(bytes), openings };
}
