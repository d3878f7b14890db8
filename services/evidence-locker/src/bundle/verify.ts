/**
 * Offline verification of a bundle.tgz or a portable-bundle-v1.tgz (docs/formats/evidence-bundle.md
 * "Verification", "Portable bundle"): no
 * network, no database — only the archive, optionally a trusted public key and TSA CA
 * certificates. Every check is reported with its result; one failing check does not hide others.
 */
import { parseJson } from '@stella/core/canonical-json';
import { digestEquals, sha256, sha256Digest } from '@stella/core/digest';
import { pae, parseEnvelope, verifyEnvelope } from '@stella/core/dsse';
import { isStellaError } from '@stella/core/errors';
import { IN_TOTO_PAYLOAD_TYPE, statementFromEnvelope } from '@stella/core/in-toto';
import { parseTimeStampResponse, verifyTimeStampToken } from '@stella/core/rfc3161';
import { keySetFromPublicKeys, parsePublicKey } from '@stella/core/signing';
import { parseSigstoreBundle, signatureToTimestamp } from '@stella/core/sigstore';
import { compareUtf8, parseChecksumsTxt, readBundleFiles, type BundleFile, type TarSource } from '@stella/core/tar';
import {
  ARTIFACTS_DIR,
  CHECKSUMS_FILE,
  MANIFEST_FILE,
  OPENINGS_FILE,
  SIGNATURE_FILE,
  SIGSTORE_FILE,
  TIMESTAMP_FILE,
  type OpeningLine,
} from './archive.js';
import { opens } from './commitment.js';
import { artifactsRoot, leafBytes } from './manifest.js';
import { LEAVES_FILE, PAE_FILE, PORTABLE_FILE, PORTABLE_SCHEMA, SIG_FILE } from './portable.js';
import { ROOT_SUBJECT_NAME, SEAL_PREDICATE_TYPE } from './seal.js';
import { verifyLogFiles, type LogVerifyOptions } from './verify-log.js';

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
  /** `bundle` (bundle.tgz) or `portable` (portable-bundle-v1.tgz). */
  format?: 'bundle' | 'portable';
  /** Portable bundles: the paths whose content was withheld (their entries verified). */
  withheld?: string[];
  bundleId?: string;
  rootHash?: string;
  checks: VerifyCheck[];
}

export interface VerifyOptions extends LogVerifyOptions {
  /** Trusted seal key (PEM). Without it the bundle's own keys/ are used (integrity, not identity). */
  publicKeyPem?: string;
  /** Trusted TSA CA certificates (PEM); without them the timestamp's signature is not checked. */
  tsaCaPem?: string[];
}

/** Largest non-artifact file kept in memory while reading (manifest, signature, keys, tsr). */
const MAX_META_BYTES = 16 * 1024 * 1024;

function message(err: unknown): string {
  return isStellaError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}

/** What the checks below need of either form: the entries (leaves) and the sealed root. */
interface Sealed {
  format: 'bundle' | 'portable';
  bundleId?: string;
  kind?: string;
  /** Entries as leaves: v2 `{…, commitment}` or v1 `{…, digest}`. */
  artifacts: Record<string, unknown>[];
  merkle: { algorithm: string; root: string; leafCount: number };
  /** The manifest digest the statement must carry. */
  manifestDigest?: string;
}

function parseObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  const v = parseJson(Buffer.from(bytes).toString('utf8')) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function sealedOf(m: Record<string, unknown>, what: string): Omit<Sealed, 'format'> {
  if (!Array.isArray(m.artifacts) || !m.merkle || typeof m.merkle !== 'object')
    throw new Error(`${what} lacks artifacts or merkle`);
  if (!m.artifacts.every((a) => a && typeof a === 'object' && typeof (a as { path?: unknown }).path === 'string'))
    throw new Error(`${what}: every artifact entry needs a path`);
  return {
    ...(typeof m.bundleId === 'string' ? { bundleId: m.bundleId } : {}),
    ...(typeof m.kind === 'string' ? { kind: m.kind } : {}),
    artifacts: m.artifacts as Record<string, unknown>[],
    merkle: m.merkle as Sealed['merkle'],
  };
}

/** openings.jsonl, one JSON object per line (ADR 0011). */
function parseOpenings(bytes: Uint8Array): OpeningLine[] {
  const lines = Buffer.from(bytes).toString('utf8').split('\n');
  if (lines.pop() !== '') throw new Error('openings.jsonl does not end with a newline');
  return lines.map((l, i) => {
    const o = parseObject(Buffer.from(l), `openings.jsonl line ${i + 1}`);
    if (typeof o.path !== 'string') throw new Error(`openings.jsonl line ${i + 1} has no path`);
    return o as unknown as OpeningLine;
  });
}

/** Verifies a bundle.tgz or a portable bundle (bytes or a stream). Never throws for a bad bundle: it reports. */
export async function verifyBundle(source: TarSource, options: VerifyOptions = {}): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const add = (check: string, status: CheckStatus, detail?: string) =>
    checks.push({ check, status, ...(detail !== undefined ? { detail } : {}) });
  const report = (extra: Partial<VerifyReport> = {}): VerifyReport => ({
    ok: checks.every((c) => c.status !== 'fail') && checks.some((c) => c.check === 'signature' && c.status === 'pass'),
    ...extra,
    checks,
  });

  let files: Map<string, BundleFile>;
  try {
    files = await readBundleFiles(source, {
      keepBytes: (path) => !path.startsWith(ARTIFACTS_DIR),
      maxKeptBytes: MAX_META_BYTES,
    });
    add('archive', 'pass');
  } catch (err) {
    add('archive', 'fail', message(err));
    return report();
  }

  // checksums.txt: every listed file matches, and every file but checksums.txt is listed.
  const checksumsFile = files.get(CHECKSUMS_FILE);
  if (!checksumsFile?.bytes) add(`checksum:${CHECKSUMS_FILE}`, 'fail', 'checksums.txt is missing');
  else {
    const listed = parseChecksumsTxt(Buffer.from(checksumsFile.bytes).toString('utf8'));
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

  // The sealed entries: manifest.json of a bundle, or portable.json + merkle/leaves.jsonl.
  const manifestFile = files.get(MANIFEST_FILE);
  const portableFile = files.get(PORTABLE_FILE);
  let sealed: Sealed | undefined;
  try {
    if (portableFile?.bytes) {
      const view = parseObject(portableFile.bytes, 'portable.json');
      if (view.schema !== PORTABLE_SCHEMA) throw new Error(`portable.json schema ${String(view.schema)} is unknown`);
      const digest = (view.manifest as { digest?: unknown } | undefined)?.digest;
      sealed = {
        format: 'portable',
        ...sealedOf(view, 'portable.json'),
        ...(typeof digest === 'string' ? { manifestDigest: digest } : {}),
      };
      add('manifest', 'pass', 'portable.json (the sealed manifest is not included)');
      // merkle/leaves.jsonl holds the leaf bytes verify-offline.sh hashes: they must be these entries.
      const leaves = files.get(LEAVES_FILE)?.bytes;
      const want = sealed.artifacts.map((a) => Buffer.from(leafBytes(a)).toString('utf8') + '\n').join('');
      if (!leaves) add('leaves', 'fail', `${LEAVES_FILE} is missing`);
      else if (Buffer.from(leaves).toString('utf8') !== want)
        add('leaves', 'fail', `${LEAVES_FILE} is not the RFC 8785 bytes of portable.json's entries`);
      else add('leaves', 'pass');
    } else {
      if (!manifestFile?.bytes) throw new Error('manifest.json is missing');
      sealed = {
        format: 'bundle',
        ...sealedOf(parseObject(manifestFile.bytes, 'manifest.json'), 'manifest.json'),
        manifestDigest: sha256Digest(manifestFile.bytes),
      };
      add('manifest', 'pass');
    }
  } catch (err) {
    add('manifest', 'fail', message(err));
  }

  const withheld: string[] = [];
  if (sealed) {
    const s = sealed;
    // Openings (v2 entries carry a commitment): one line per entry, in manifest order.
    let openings: OpeningLine[] | undefined;
    if (s.artifacts.some((a) => 'commitment' in a)) {
      const f = files.get(OPENINGS_FILE);
      try {
        if (!f?.bytes) throw new Error('openings.jsonl is missing');
        openings = parseOpenings(f.bytes);
        if (openings.length !== s.artifacts.length)
          throw new Error(`openings.jsonl has ${openings.length} lines for ${s.artifacts.length} entries`);
        add('openings', 'pass');
      } catch (err) {
        add('openings', 'fail', message(err));
      }
    }
    // Each artifact: its bytes match the entry (v1: the digest; v2: the opening of the commitment),
    // or — in a portable bundle only — it is withheld and absent. Nothing extra under artifacts/.
    const declared = new Set<string>();
    for (const [i, a] of s.artifacts.entries()) {
      const path = String(a.path);
      const name = `artifact:${path}`;
      const f = files.get(ARTIFACTS_DIR + path);
      const opening = openings?.[i];
      // Every entry's path counts as declared; a withheld one that is present fails below, once.
      declared.add(ARTIFACTS_DIR + path);
      if (typeof a.commitment === 'string') {
        if (!opening) {
          if (openings) add(name, 'fail', 'no opening');
          continue;
        }
        if (opening.path !== path) {
          add(name, 'fail', `line ${i + 1} of openings.jsonl opens ${JSON.stringify(opening.path)}`);
          continue;
        }
        if ('withheld' in opening) {
          if (s.format !== 'portable') add(name, 'fail', 'withheld, but only a portable bundle may withhold');
          else if (f) add(name, 'fail', 'marked withheld but present in the archive');
          else {
            withheld.push(path);
            add(name, 'pass', 'withheld: its entry is a leaf of the sealed tree; its content is not in this bundle');
          }
          continue;
        }
        if (!f) add(name, 'fail', 'missing from the archive');
        else if (!digestEquals(`sha256:${f.hex}`, String(opening.digest)))
          add(name, 'fail', `sha256:${f.hex} differs from its opening's ${String(opening.digest)}`);
        else if (!opens(a.commitment, opening)) add(name, 'fail', "its opening does not open the entry's commitment");
        else if (f.size !== a.size) add(name, 'fail', `${f.size} bytes, the manifest says ${String(a.size)}`);
        else add(name, 'pass');
      } else {
        if (!f) add(name, 'fail', 'missing from the archive');
        else if (!digestEquals(`sha256:${f.hex}`, String(a.digest)))
          add(name, 'fail', `sha256:${f.hex} differs from the manifest's ${String(a.digest)}`);
        else if (f.size !== a.size) add(name, 'fail', `${f.size} bytes, the manifest says ${String(a.size)}`);
        else add(name, 'pass');
      }
    }
    for (const path of files.keys())
      if (path.startsWith(ARTIFACTS_DIR) && !declared.has(path))
        add(`artifact:${path.slice(ARTIFACTS_DIR.length)}`, 'fail', 'in the archive but not in the manifest');

    // Merkle root over the entries exactly as listed (order included: sorted is part of the format).
    try {
      const inOrder = s.artifacts.every(
        (a, i) => i === 0 || compareUtf8(String(s.artifacts[i - 1]!.path), String(a.path)) < 0,
      );
      const root = artifactsRoot(s.artifacts);
      if (!inOrder) add('merkle', 'fail', 'the artifact entries are not sorted by path');
      else if (s.merkle.algorithm !== 'rfc9162-sha256')
        add('merkle', 'fail', `unknown algorithm ${String(s.merkle.algorithm)}`);
      else if (root !== s.merkle.root || s.merkle.leafCount !== s.artifacts.length)
        add('merkle', 'fail', `recomputed root ${root} (${s.artifacts.length} leaves) differs from the manifest`);
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
    const p = predicate as { bundleId?: unknown; kind?: unknown } | undefined;
    if (sealed && subject.digest.sha256 !== sealed.merkle.root) problems.push('subject is not the manifest root');
    if (sealed && predicate?.manifest?.digest !== sealed.manifestDigest)
      problems.push(
        `predicate.manifest.digest is not the digest of ${sealed.format === 'portable' ? "portable.json's manifest" : 'manifest.json'}`,
      );
    if (sealed?.bundleId !== undefined && p?.bundleId !== sealed.bundleId) problems.push('predicate.bundleId differs');
    if (sealed?.kind !== undefined && p?.kind !== sealed.kind) problems.push('predicate.kind differs');
    add('statement', problems.length ? 'fail' : 'pass', problems.length ? problems.join('; ') : undefined);
    if (sealed?.format === 'portable') {
      // The files verify-offline.sh hands to openssl must be exactly this envelope's signature and PAE.
      const sigFile = files.get(SIG_FILE)?.bytes;
      const paeFile = files.get(PAE_FILE)?.bytes;
      const okSig = sigFile && Buffer.from(sigFile).equals(Buffer.from(signatureToTimestamp(envelope)));
      const okPae = paeFile && Buffer.from(paeFile).equals(Buffer.from(pae(envelope.payloadType, envelope.payload)));
      add(
        'seal-files',
        okSig && okPae ? 'pass' : 'fail',
        okSig && okPae ? undefined : `${okSig ? PAE_FILE : SIG_FILE} is not the seal's`,
      );
    }
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
  // The transparency log (bundle.tgz only: a portable bundle does not carry the manifest it rebuilds from).
  if (sealed?.format !== 'portable') {
    let manifest: Record<string, unknown> | undefined;
    try {
      manifest = manifestFile?.bytes ? parseObject(manifestFile.bytes, 'manifest.json') : undefined;
    } catch {
      manifest = undefined;
    }
    verifyLogFiles(files, manifest, sealed?.manifestDigest, options, add);
  }
  return report({
    ...(sealed ? { format: sealed.format } : {}),
    ...(sealed?.bundleId ? { bundleId: sealed.bundleId } : {}),
    ...(sealed ? { rootHash: sealed.merkle.root } : {}),
    ...(sealed?.format === 'portable' ? { withheld } : {}),
  });
}
