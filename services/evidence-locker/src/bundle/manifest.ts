/**
 * The evidence bundle manifest and its Merkle tree (DESIGN.md §4 "Evidence bundle";
 * docs/formats/evidence-bundle.md). Pure: no I/O.
 *
 * The Merkle tree covers the artifact entries only — leaf i is the RFC 8785 (JCS) bytes of
 * `manifest.artifacts[i]`, entries sorted by the UTF-8 bytes of their path, hashed per RFC 9162
 * §2.1.1 (leaf prefix 0x00, node prefix 0x01). `bundleId`, `createdAt`, `tenant` and `metadata`
 * are outside the leaves, so sealing the same artifacts twice yields the same root while each
 * bundle keeps its own manifest (and manifest digest).
 */
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Digest } from '@stella/core/digest';
import { MERKLE_ALGORITHM, inclusionProof, leafHash, merkleRoot } from '@stella/core/merkle';
import { compareUtf8 } from '@stella/core/tar';

/** `schema` member of every manifest this version writes. */
export const MANIFEST_SCHEMA = 'https://stella-ops.org/schemas/evidence-bundle/v1';

export const BUNDLE_KINDS = ['evaluation', 'job', 'export'] as const;
export type BundleKind = (typeof BUNDLE_KINDS)[number];

export const ARTIFACT_ROLES = ['input', 'output', 'env', 'log', 'metadata'] as const;
export type ArtifactRole = (typeof ARTIFACT_ROLES)[number];

/** One artifact entry, exactly as it appears in `manifest.artifacts` (and as a Merkle leaf). */
export interface ArtifactEntry {
  path: string;
  role: ArtifactRole;
  mediaType: string;
  size: number;
  /** `sha256:<64 hex>` of the artifact's bytes. */
  digest: string;
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
  artifacts: readonly ArtifactEntry[];
  metadata?: Record<string, JsonValue>;
}

/** Entries in manifest order: by the UTF-8 bytes of the path (the bundle archive's order too). */
export function sortArtifacts(artifacts: readonly ArtifactEntry[]): ArtifactEntry[] {
  return [...artifacts]
    .map((a) => ({ path: a.path, role: a.role, mediaType: a.mediaType, size: a.size, digest: a.digest }))
    .sort((a, b) => compareUtf8(a.path, b.path));
}

/** RFC 9162 leaf hashes of entries already in manifest order. */
export function artifactLeafHashes(artifacts: readonly ArtifactEntry[]): Uint8Array[] {
  return artifacts.map((a) => leafHash(canonicalJcsBytes(a as unknown as JsonValue)));
}

/** The Merkle root (lower-case hex) over entries already in manifest order. */
export function artifactsRoot(artifacts: readonly ArtifactEntry[]): string {
  return Buffer.from(merkleRoot(artifactLeafHashes(artifacts))).toString('hex');
}

/** Inclusion proof (hex hashes, bottom-up, RFC 9162 §2.1.3.1) of entry `index`. */
export function artifactInclusionProof(artifacts: readonly ArtifactEntry[], index: number): string[] {
  return inclusionProof(artifactLeafHashes(artifacts), index).map((h) => Buffer.from(h).toString('hex'));
}

/** The manifest and its exact bytes (RFC 8785), which are what manifest.json holds. */
export function buildManifest(input: ManifestInput): { manifest: Manifest; bytes: Uint8Array; digest: string } {
  const artifacts = sortArtifacts(input.artifacts);
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
  return { manifest, bytes, digest: sha256Digest(bytes) };
}
