/**
 * The portable bundle (`portable-bundle-v1.tgz`, docs/formats/evidence-bundle.md "Portable
 * bundle"; ADR 0011): a sealed bundle redacted for transfer into a sealed environment.
 *
 * What the seal signed travels unchanged (signature.json, timestamp.tsr, seal.sigstore.json, the
 * key), and so do the Merkle leaves — the RFC 8785 bytes of every manifest entry, one per line of
 * merkle/leaves.jsonl — so the original root and signature still verify. manifest.json does not
 * travel: it carries the tenant id and the caller's metadata. portable.json is a redacted view of
 * it (redactions.json lists every member left out); withheld artifacts keep their entry (and leaf)
 * but lose their content and their opening, which the salted commitment keeps unguessable.
 * verify-offline.sh checks it all with POSIX sh, sha256sum and openssl.
 */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { canonicalJcsBytes, type JsonValue } from '@stella/core/canonical-json';
import { sha256Hex } from '@stella/core/digest';
import { pae, parseEnvelope } from '@stella/core/dsse';
import { signatureToTimestamp } from '@stella/core/sigstore';
import { createTarGz, type TarEntryInput } from '@stella/core/tar';
import {
  ARTIFACTS_DIR,
  CHECKSUMS_FILE,
  OPENINGS_FILE,
  PUBLIC_KEY_FILE,
  SIGNATURE_FILE,
  SIGSTORE_FILE,
  TIMESTAMP_FILE,
  VERIFY_FILE,
  checksumsTxt,
  openingsJsonl,
  sigstoreJson,
  text,
  type OpeningLine,
} from './archive.js';
import type { ArtifactOpening } from './commitment.js';
import { leafBytes, type ArtifactEntry, type Manifest } from './manifest.js';

export const PORTABLE_SCHEMA = 'https://stella-ops.org/schemas/evidence-portable/v1';
export const PORTABLE_ARCHIVE_NAME = 'portable-bundle-v1.tgz';
export const PORTABLE_FILE = 'portable.json';
export const REDACTIONS_FILE = 'redactions.json';
export const LEAVES_FILE = 'merkle/leaves.jsonl';
/** The decoded DSSE signature (raw Ed25519 / DER ECDSA) — the datum openssl and RFC 3161 take. */
export const SIG_FILE = 'signature.sig';
/** PAE(payloadType, payload): openssl verifies Ed25519 only over a file. */
export const PAE_FILE = 'signature.pae';
export const VERIFY_SCRIPT = 'verify-offline.sh';

// One level above src/ and dist/ alike: the package's assets folder.
const SCRIPT = readFileSync(new URL('../../assets/verify-offline.sh', import.meta.url));

/** The redacted view of the sealed manifest (portable.json). */
export interface PortableView {
  schema: typeof PORTABLE_SCHEMA;
  bundleId: string;
  kind: string;
  createdAt: string;
  subject?: { digest: string };
  artifacts: ArtifactEntry[];
  /** Paths whose content (and opening) is withheld; their entries are in `artifacts`. */
  withheld: string[];
  merkle: Manifest['merkle'];
  /** The sealed manifest is not included; its digest is the one the signed statement carries. */
  manifest: { digest: string; included: false };
  metadata?: Record<string, JsonValue>;
}

export interface Redaction {
  /** RFC 6901 pointer into the sealed manifest.json. */
  pointer: string;
  reason: string;
}

export interface PortableInput {
  manifest: Manifest;
  manifestDigest: string;
  /** One per manifest entry, in manifest order. */
  openings: readonly ArtifactOpening[];
  /** Paths (all in the manifest) whose content leaves the bundle. */
  withhold: ReadonlySet<string>;
  /** Top-level metadata members the exporter chose to keep (others are redacted). */
  keepMetadata: readonly string[];
  signatureJson: string;
  publicKeyPem: string;
  timestampTsr?: Uint8Array;
  openArtifact(opening: ArtifactOpening): Promise<Readable>;
}

const pointerPart = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The redacted view and what was redacted: the tenant id and the subject's name always (an
 * internal name), every metadata member not kept, and a kept one that mentions the tenant id.
 */
export function redactManifest(
  manifest: Manifest,
  manifestDigest: string,
  withhold: ReadonlySet<string>,
  keepMetadata: readonly string[],
): { view: PortableView; redactions: Redaction[] } {
  const redactions: Redaction[] = [
    { pointer: '/tenant', reason: 'tenant id' },
    ...(manifest.subject?.name ? [{ pointer: '/subject/name', reason: 'internal name' }] : []),
  ];
  const keep = new Set(keepMetadata);
  const metadata: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(manifest.metadata ?? {})) {
    const pointer = `/metadata/${pointerPart(k)}`;
    if (!keep.has(k)) redactions.push({ pointer, reason: 'metadata not kept by the exporter' });
    else if (JSON.stringify({ [k]: v }).includes(manifest.tenant))
      redactions.push({ pointer, reason: 'mentions the tenant id' });
    else metadata[k] = v;
  }
  const view: PortableView = {
    schema: PORTABLE_SCHEMA,
    bundleId: manifest.bundleId,
    kind: manifest.kind,
    createdAt: manifest.createdAt,
    ...(manifest.subject ? { subject: { digest: manifest.subject.digest } } : {}),
    artifacts: manifest.artifacts,
    withheld: manifest.artifacts.filter((a) => withhold.has(a.path)).map((a) => a.path),
    merkle: manifest.merkle,
    manifest: { digest: manifestDigest, included: false },
    ...(Object.keys(metadata).length ? { metadata } : {}),
  };
  return { view, redactions };
}

const jcs = (v: unknown) => canonicalJcsBytes(v as JsonValue);

/** The portable bundle's files as tar entries (artifact bodies opened lazily, one at a time). */
export function portableEntries(input: PortableInput): TarEntryInput[] {
  const { manifest, openings, withhold } = input;
  const { view, redactions } = redactManifest(input.manifest, input.manifestDigest, withhold, input.keepMetadata);
  const envelope = parseEnvelope(input.signatureJson);
  // The one seal signature, exactly what RFC 3161 time-stamped (seal.ts).
  const sig = signatureToTimestamp(envelope);
  const lines: OpeningLine[] = openings.map((o) => (withhold.has(o.path) ? { path: o.path, withheld: true } : o));
  const leaves = text(manifest.artifacts.map((a) => Buffer.from(leafBytes(a)).toString('utf8') + '\n').join(''));
  const fixed: { path: string; bytes: Uint8Array; mode?: number }[] = [
    { path: PORTABLE_FILE, bytes: jcs(view) },
    {
      path: REDACTIONS_FILE,
      bytes: jcs({
        schema: `${PORTABLE_SCHEMA}/redactions`,
        redactions,
        withheld: view.withheld.map((path) => ({ path, reason: 'content withheld by the exporter' })),
      }),
    },
    { path: SIGNATURE_FILE, bytes: text(input.signatureJson) },
    { path: SIG_FILE, bytes: sig },
    { path: PAE_FILE, bytes: pae(envelope.payloadType, envelope.payload) },
    { path: SIGSTORE_FILE, bytes: text(sigstoreJson(input.signatureJson, input.timestampTsr)) },
    { path: PUBLIC_KEY_FILE, bytes: text(input.publicKeyPem) },
    { path: LEAVES_FILE, bytes: leaves },
    { path: OPENINGS_FILE, bytes: openingsJsonl(lines) },
    { path: VERIFY_FILE, bytes: text(VERIFY_MD) },
    { path: VERIFY_SCRIPT, bytes: new Uint8Array(SCRIPT), mode: 0o755 },
    ...(input.timestampTsr ? [{ path: TIMESTAMP_FILE, bytes: input.timestampTsr }] : []),
  ];
  const present = openings
    .map((o, i) => ({ opening: o, size: manifest.artifacts[i]!.size }))
    .filter(({ opening }) => !withhold.has(opening.path));
  const checksums = checksumsTxt([
    ...fixed.map((f) => ({ path: f.path, hex: sha256Hex(f.bytes) })),
    ...present.map(({ opening }) => ({ path: ARTIFACTS_DIR + opening.path, hex: opening.digest.slice(7) })),
  ]);
  return [
    ...fixed.map((f) => ({ path: f.path, body: f.bytes, ...(f.mode ? { mode: f.mode } : {}) })),
    { path: CHECKSUMS_FILE, body: checksums },
    ...present.map(({ opening, size }) => ({
      path: ARTIFACTS_DIR + opening.path,
      size,
      body: () => input.openArtifact(opening),
    })),
  ];
}

/** The deterministic portable-bundle-v1.tgz stream (same bundle and choices → same bytes). */
export function createPortableArchive(input: PortableInput): Readable {
  return createTarGz(portableEntries(input));
}

const VERIFY_MD = `# Verifying this portable evidence bundle offline

Run \`sh verify-offline.sh [--key trusted-seal.pub.pem] [--tsa-ca tsa-ca.pem]\` (POSIX sh,
\`sha256sum\` and \`openssl\` only), or \`stella evidence verify portable-bundle-v1.tgz\`.

- portable.json: the sealed manifest with the tenant id and internal names redacted
  (redactions.json lists each redacted member). The sealed manifest.json itself is not included;
  its digest is in the signed statement.
- merkle/leaves.jsonl: line i is the exact RFC 8785 bytes of artifact entry i — the Merkle leaf.
  leaf hash = SHA-256(0x00 || line), nodes SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
- openings.jsonl: line i opens entry i — \`{digest, path, salt}\` for a present artifact (its
  sha256 is \`digest\` and HMAC-SHA256(salt, digest) is the entry's \`commitment\`), or
  \`{path, withheld: true}\` for a withheld one, whose content is not in this bundle.
- signature.json: the original DSSE seal (an in-toto Statement whose subject is the Merkle root);
  signature.sig is its decoded signature, signature.pae the PAE bytes it signs.
- timestamp.tsr (if any): RFC 3161 over signature.sig —
  \`openssl ts -verify -data signature.sig -in timestamp.tsr -CAfile tsa-ca.pem\`.

Format: docs/formats/evidence-bundle.md "Portable bundle" of StellaOps Export & Evidence.
`;
