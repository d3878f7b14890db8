/**
 * The deterministic bundle.tgz (docs/formats/evidence-bundle.md "Archive"): the core tar writer
 * (entries sorted by UTF-8 path, mtime 0, uid/gid 0, deterministic gzip) over the stored
 * manifest, seal and artifact bytes — nothing time- or host-dependent is added here, so the same
 * bundle always yields the same bytes.
 */
import type { Readable } from 'node:stream';
import { sha256Hex } from '@stella/core/digest';
import { parseEnvelope } from '@stella/core/dsse';
import { serializeSigstoreBundle, toSigstoreBundle } from '@stella/core/sigstore';
import { createTarGz, type TarEntryInput } from '@stella/core/tar';
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import type { ArtifactOpening } from './commitment.js';
import type { SealedArtifact } from './manifest.js';

export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'signature.json';
export const SIGSTORE_FILE = 'seal.sigstore.json';
export const TIMESTAMP_FILE = 'timestamp.tsr';
export const CHECKSUMS_FILE = 'checksums.txt';
export const VERIFY_FILE = 'VERIFY.md';
export const PUBLIC_KEY_FILE = 'keys/seal.pub.pem';
export const OPENINGS_FILE = 'openings.jsonl';
export const ARTIFACTS_DIR = 'artifacts/';

export interface ArchiveInput {
  manifestBytes: Uint8Array;
  signatureJson: string;
  publicKeyPem: string;
  timestampTsr?: Uint8Array;
  /** The artifacts in manifest order, with their real digests. */
  artifacts: readonly SealedArtifact[];
  /** The openings of the manifest entries, in manifest order (ADR 0011). */
  openings: readonly ArtifactOpening[];
  /** Opens the bytes of one artifact (called once per artifact, in archive order). */
  openArtifact(artifact: SealedArtifact): Promise<Readable>;
  /**
   * Files added after sealing, listed in checksums.txt like the others: the transparency log's
   * `log/…` files of a download (docs/evidence/transparency-log.md "bundle.tgz"). None at seal time.
   */
  extraFiles?: readonly { path: string; bytes: Uint8Array }[];
}

/** One line of openings.jsonl: the opening of entry i, or the mark that its content is withheld. */
export type OpeningLine = ArtifactOpening | { path: string; withheld: true };

/** openings.jsonl: the RFC 8785 bytes of each line's object, `\n`-terminated, in manifest order. */
export function openingsJsonl(lines: readonly OpeningLine[]): Uint8Array {
  return text(
    lines.map((l) => Buffer.from(canonicalJcsBytes(l as unknown as JsonValue)).toString('utf8') + '\n').join(''),
  );
}

const VERIFY_MD = `# Verifying this evidence bundle offline

Needs only \`sha256sum\` and \`openssl\` (or \`stella evidence verify bundle.tgz\`).

1. File integrity: \`sha256sum -c checksums.txt\` — every file of the bundle but checksums.txt.
2. Artifacts: each \`artifacts/<path>\` has the size of its entry in \`manifest.json\`.
   Line i of openings.jsonl opens manifest.artifacts[i]: its \`digest\` is the file's sha256, and
   HMAC-SHA256(key = hex-decoded \`salt\`, message = the ASCII digest) is the entry's
   \`commitment\` (\`printf %s sha256:<hex> | openssl dgst -sha256 -mac HMAC -macopt hexkey:<salt>\`).
3. Merkle root: leaf i = SHA-256(0x00 || RFC 8785 bytes of manifest.artifacts[i]); nodes
   SHA-256(0x01 || left || right) as in RFC 9162 §2.1.1; the root must equal manifest.merkle.root.
4. Seal: signature.json is a DSSE envelope (payloadType application/vnd.in-toto+json). Verify the
   signature over PAE(payloadType, payload) with keys/seal.pub.pem; the in-toto Statement's
   subject digest is the Merkle root and predicate.manifest.digest is sha256 of manifest.json.
5. Timestamp (if timestamp.tsr is present): an RFC 3161 response over the signature value —
   \`sed -n 's/.*"sig":"\\([^"]*\\)".*/\\1/p' signature.json | openssl base64 -d -A > sig.bin\` then
   \`openssl ts -verify -data sig.bin -in timestamp.tsr -CAfile <your TSA CA>\`.
6. seal.sigstore.json is the same seal (and timestamp) as a Sigstore bundle v0.3 for
   Sigstore verifiers, with keys/seal.pub.pem as the trusted public key.

Format: docs/formats/evidence-bundle.md of StellaOps Export & Evidence.
`;

export const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/**
 * checksums.txt over the given files (GNU sha256sum format: hex, two spaces, name), in UTF-8
 * path order; `hex` is known up front so artifact bodies need not be read twice.
 */
export function checksumsTxt(files: readonly { path: string; hex: string }[]): Uint8Array {
  return text(
    [...files]
      .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
      .map((l) => `${l.hex}  ${l.path}\n`)
      .join(''),
  );
}

/** The seal as a Sigstore bundle v0.3 (public-key hint, no tlog entries, the RFC 3161 token if any). */
export function sigstoreJson(signatureJson: string, tsr: Uint8Array | undefined): string {
  const envelope = parseEnvelope(signatureJson);
  return serializeSigstoreBundle(toSigstoreBundle(envelope, tsr ? { rfc3161Timestamps: [tsr] } : {}));
}

/** The bundle's files as tar entries (artifact bodies opened lazily, one at a time). */
export function archiveEntries(input: ArchiveInput): TarEntryInput[] {
  const fixed: { path: string; bytes: Uint8Array }[] = [
    { path: MANIFEST_FILE, bytes: input.manifestBytes },
    { path: SIGNATURE_FILE, bytes: text(input.signatureJson) },
    { path: SIGSTORE_FILE, bytes: text(sigstoreJson(input.signatureJson, input.timestampTsr)) },
    { path: PUBLIC_KEY_FILE, bytes: text(input.publicKeyPem) },
    { path: VERIFY_FILE, bytes: text(VERIFY_MD) },
    { path: OPENINGS_FILE, bytes: openingsJsonl(input.openings) },
    ...(input.timestampTsr ? [{ path: TIMESTAMP_FILE, bytes: input.timestampTsr }] : []),
    ...(input.extraFiles ?? []),
  ];
  const checksums = checksumsTxt([
    ...fixed.map((f) => ({ path: f.path, hex: sha256Hex(f.bytes) })),
    ...input.artifacts.map((a) => ({ path: ARTIFACTS_DIR + a.path, hex: a.digest.slice('sha256:'.length) })),
  ]);
  return [
    ...fixed.map((f) => ({ path: f.path, body: f.bytes })),
    { path: CHECKSUMS_FILE, body: checksums },
    ...input.artifacts.map((a) => ({ path: ARTIFACTS_DIR + a.path, size: a.size, body: () => input.openArtifact(a) })),
  ];
}

/** The deterministic bundle.tgz stream. */
export function createBundleArchive(input: ArchiveInput): Readable {
  return createTarGz(archiveEntries(input));
}
