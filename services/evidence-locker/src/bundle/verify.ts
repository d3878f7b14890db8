/**
 * Offline verification of a bundle.tgz (docs/formats/evidence-bundle.md "Verification"): no
 * network, no database — only the archive, optionally a trusted public key and TSA CA
 * certificates. Every check is reported with its result; one failing check does not hide others.
 */
import { createHash } from 'node:crypto';
import { parseJson } from '@stella/core/canonical-json';
import { digestEquals, sha256, sha256Digest } from '@stella/core/digest';
import { parseEnvelope, verifyEnvelope } from '@stella/core/dsse';
import { isStellaError } from '@stella/core/errors';
import { IN_TOTO_PAYLOAD_TYPE, statementFromEnvelope } from '@stella/core/in-toto';
import { parseTimeStampResponse, verifyTimeStampToken } from '@stella/core/rfc3161';
import { keySetFromPublicKeys, parsePublicKey } from '@stella/core/signing';
import { parseSigstoreBundle, signatureToTimestamp } from '@stella/core/sigstore';
import { readTarGz, type TarSource } from '@stella/core/tar';
import {
  ARTIFACTS_DIR,
  CHECKSUMS_FILE,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  SIGSTORE_FILE,
  TIMESTAMP_FILE,
} from './archive.js';
import { artifactsRoot, sortArtifacts, type ArtifactEntry } from './manifest.js';
import { ROOT_SUBJECT_NAME, SEAL_PREDICATE_TYPE } from './seal.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface VerifyCheck {
  /** `archive`, `manifest`, `checksum:<file>`, `artifact:<path>`, `merkle`, `signature`, `statement`, `sigstore`, `timestamp`. */
  check: string;
  status: CheckStatus;
  detail?: string;
}

export interface VerifyReport {
  /** True when no check failed and the signature check passed. */
  ok: boolean;
  bundleId?: string;
  rootHash?: string;
  checks: VerifyCheck[];
}

export interface VerifyOptions {
  /** Trusted seal key (PEM). Without it the bundle's own keys/ are used (integrity, not identity). */
  publicKeyPem?: string;
  /** Trusted TSA CA certificates (PEM); without them the timestamp's signature is not checked. */
  tsaCaPem?: string[];
}

/** Largest non-artifact file kept in memory while reading (manifest, signature, keys, tsr). */
const MAX_META_BYTES = 16 * 1024 * 1024;

interface FileFacts {
  hex: string;
  size: number;
  /** Kept for the metadata files; artifacts are only hashed. */
  bytes?: Uint8Array;
}

function message(err: unknown): string {
  return isStellaError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}

/** Reads every entry once, hashing bodies and keeping the small metadata files. */
async function readBundle(source: TarSource): Promise<Map<string, FileFacts>> {
  const files = new Map<string, FileFacts>();
  for await (const entry of readTarGz(source)) {
    if (entry.type !== 'file') continue;
    const keep = !entry.path.startsWith(ARTIFACTS_DIR) && entry.size <= MAX_META_BYTES;
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of entry.body) {
      hash.update(chunk);
      size += chunk.byteLength;
      if (keep) chunks.push(chunk);
    }
    files.set(entry.path, {
      hex: hash.digest('hex'),
      size,
      ...(keep ? { bytes: new Uint8Array(Buffer.concat(chunks)) } : {}),
    });
  }
  return files;
}

/** checksums.txt lines `<64 hex>  <path>` (GNU sha256sum text mode, as we write it). */
function parseChecksums(text: string): Map<string, string> | string {
  const out = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) return `line ${i + 1} is not "<sha256>  <path>"`;
    if (out.has(m[2]!)) return `line ${i + 1}: ${m[2]} listed twice`;
    out.set(m[2]!, m[1]!);
  }
  return out;
}

interface ParsedManifest {
  bundleId?: string;
  artifacts: ArtifactEntry[];
  merkle: { algorithm: string; root: string; leafCount: number };
}

function parseManifest(bytes: Uint8Array): ParsedManifest {
  const m = parseJson(Buffer.from(bytes).toString('utf8')) as Partial<ParsedManifest> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.artifacts) || !m.merkle || typeof m.merkle !== 'object')
    throw new Error('manifest.json lacks artifacts or merkle');
  return m as ParsedManifest;
}

/** Verifies a bundle.tgz (bytes or a stream of them). Never throws for a bad bundle: it reports. */
export async function verifyBundle(source: TarSource, options: VerifyOptions = {}): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const add = (check: string, status: CheckStatus, detail?: string) =>
    checks.push({ check, status, ...(detail !== undefined ? { detail } : {}) });
  const report = (extra: Partial<VerifyReport> = {}): VerifyReport => ({
    ok: checks.every((c) => c.status !== 'fail') && checks.some((c) => c.check === 'signature' && c.status === 'pass'),
    ...extra,
    checks,
  });

  let files: Map<string, FileFacts>;
  try {
    files = await readBundle(source);
    add('archive', 'pass');
  } catch (err) {
    add('archive', 'fail', message(err));
    return report();
  }

  // checksums.txt: every listed file matches, and every file but checksums.txt is listed.
  const checksumsFile = files.get(CHECKSUMS_FILE);
  if (!checksumsFile?.bytes) add(`checksum:${CHECKSUMS_FILE}`, 'fail', 'checksums.txt is missing');
  else {
    const listed = parseChecksums(Buffer.from(checksumsFile.bytes).toString('utf8'));
    if (typeof listed === 'string') add(`checksum:${CHECKSUMS_FILE}`, 'fail', listed);
    else {
      for (const [path, hex] of listed) {
        const f = files.get(path);
        if (!f) add(`checksum:${path}`, 'fail', 'listed but not in the archive');
        else if (f.hex !== hex) add(`checksum:${path}`, 'fail', `sha256 is ${f.hex}, checksums.txt says ${hex}`);
        else add(`checksum:${path}`, 'pass');
      }
      for (const path of files.keys())
        if (path !== CHECKSUMS_FILE && !listed.has(path))
          add(`checksum:${path}`, 'fail', 'not listed in checksums.txt');
    }
  }

  const manifestFile = files.get(MANIFEST_FILE);
  let manifest: ParsedManifest | undefined;
  try {
    if (!manifestFile?.bytes) throw new Error('manifest.json is missing');
    manifest = parseManifest(manifestFile.bytes);
    add('manifest', 'pass');
  } catch (err) {
    add('manifest', 'fail', message(err));
  }

  if (manifest) {
    // Each artifact: present, with the manifest's size and digest; nothing extra under artifacts/.
    const declared = new Set<string>();
    for (const a of manifest.artifacts) {
      declared.add(ARTIFACTS_DIR + a.path);
      const f = files.get(ARTIFACTS_DIR + a.path);
      if (!f) add(`artifact:${a.path}`, 'fail', 'missing from the archive');
      else if (!digestEquals(`sha256:${f.hex}`, String(a.digest)))
        add(`artifact:${a.path}`, 'fail', `sha256:${f.hex} differs from the manifest's ${String(a.digest)}`);
      else if (f.size !== a.size) add(`artifact:${a.path}`, 'fail', `${f.size} bytes, the manifest says ${a.size}`);
      else add(`artifact:${a.path}`, 'pass');
    }
    for (const path of files.keys())
      if (path.startsWith(ARTIFACTS_DIR) && !declared.has(path))
        add(`artifact:${path.slice(ARTIFACTS_DIR.length)}`, 'fail', 'in the archive but not in the manifest');

    // Merkle root over the entries exactly as listed (order included: sorted is part of the format).
    try {
      const sorted = sortArtifacts(manifest.artifacts);
      const inOrder = sorted.every((a, i) => a.path === manifest!.artifacts[i]!.path);
      const root = artifactsRoot(manifest.artifacts);
      if (!inOrder) add('merkle', 'fail', 'manifest.artifacts is not sorted by path');
      else if (manifest.merkle.algorithm !== 'rfc9162-sha256')
        add('merkle', 'fail', `unknown algorithm ${String(manifest.merkle.algorithm)}`);
      else if (root !== manifest.merkle.root || manifest.merkle.leafCount !== manifest.artifacts.length)
        add(
          'merkle',
          'fail',
          `recomputed root ${root} (${manifest.artifacts.length} leaves) differs from the manifest`,
        );
      else add('merkle', 'pass');
    } catch (err) {
      add('merkle', 'fail', message(err));
    }
  }

  // Seal: the DSSE signature, then what the signed statement says about this manifest.
  const signatureFile = files.get(SIGNATURE_FILE);
  try {
    if (!signatureFile?.bytes) throw new Error('signature.json is missing');
    const envelope = parseEnvelope(signatureFile.bytes);
    const pems = options.publicKeyPem
      ? [options.publicKeyPem]
      : [...files]
          .filter(([p, f]) => p.startsWith('keys/') && p.endsWith('.pem') && f.bytes)
          .map(([, f]) => Buffer.from(f.bytes!).toString('utf8'));
    if (pems.length === 0) throw new Error('no public key: none in keys/ and none given');
    const keys = keySetFromPublicKeys(pems.map((p) => parsePublicKey(p)));
    const verified = verifyEnvelope(envelope, { keys, expectedPayloadType: IN_TOTO_PAYLOAD_TYPE });
    add(
      'signature',
      'pass',
      `${verified.verifiedKeyIds.join(', ')} (${options.publicKeyPem ? 'given key' : 'key from the bundle'})`,
    );
    const st = statementFromEnvelope(envelope);
    const predicate = st.predicate as { manifest?: { digest?: unknown } } | undefined;
    const subject = st.subject[0]!;
    const problems: string[] = [];
    if (st.predicateType !== SEAL_PREDICATE_TYPE) problems.push(`predicateType ${st.predicateType}`);
    if (st.subject.length !== 1 || subject.name !== ROOT_SUBJECT_NAME) problems.push('subject is not the Merkle root');
    if (manifest && subject.digest.sha256 !== manifest.merkle.root) problems.push('subject is not the manifest root');
    if (manifestFile?.bytes && predicate?.manifest?.digest !== sha256Digest(manifestFile.bytes))
      problems.push('predicate.manifest.digest is not the digest of manifest.json');
    add('statement', problems.length ? 'fail' : 'pass', problems.length ? problems.join('; ') : undefined);
  } catch (err) {
    add('signature', 'fail', message(err));
  }

  // seal.sigstore.json must carry exactly the seal of signature.json (and the same timestamp).
  const sigstoreFile = files.get(SIGSTORE_FILE);
  if (sigstoreFile?.bytes && signatureFile?.bytes) {
    try {
      const b = parseSigstoreBundle(sigstoreFile.bytes);
      const env = parseEnvelope(signatureFile.bytes);
      const tsrBytes = files.get(TIMESTAMP_FILE)?.bytes;
      const same =
        b.envelope.payloadType === env.payloadType &&
        Buffer.from(b.envelope.payload).equals(Buffer.from(env.payload)) &&
        Buffer.from(b.envelope.signatures[0]!.sig).equals(Buffer.from(signatureToTimestamp(env))) &&
        b.rfc3161Timestamps.length === (tsrBytes ? 1 : 0) &&
        (!tsrBytes || Buffer.from(b.rfc3161Timestamps[0]!).equals(Buffer.from(tsrBytes)));
      add(
        'sigstore',
        same ? 'pass' : 'fail',
        same ? undefined : 'seal.sigstore.json differs from signature.json/timestamp.tsr',
      );
    } catch (err) {
      add('sigstore', 'fail', message(err));
    }
  } else if (signatureFile?.bytes) add('sigstore', 'fail', 'seal.sigstore.json is missing');

  const tsr = files.get(TIMESTAMP_FILE);
  if (tsr?.bytes && signatureFile?.bytes) {
    try {
      const { token } = parseTimeStampResponse(tsr.bytes);
      const sig = signatureToTimestamp(parseEnvelope(signatureFile.bytes));
      if (options.tsaCaPem?.length) {
        const v = await verifyTimeStampToken(token, { data: sig, trustedCerts: options.tsaCaPem });
        add('timestamp', 'pass', `genTime ${v.genTime.toISOString()}`);
      } else if (!digestEquals(token.info.messageImprint, sha256(sig))) {
        add('timestamp', 'fail', 'the timestamp is not over the seal signature');
      } else {
        add(
          'timestamp',
          'skip',
          `imprint matches the seal signature (genTime ${token.info.genTime.toISOString()}); TSA signature not checked: no TSA CA given`,
        );
      }
    } catch (err) {
      add('timestamp', 'fail', message(err));
    }
  }
  return report({
    ...(manifest?.bundleId ? { bundleId: manifest.bundleId } : {}),
    ...(manifest ? { rootHash: manifest.merkle.root } : {}),
  });
}
