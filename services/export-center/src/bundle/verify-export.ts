/**
 * Offline verification of an export.tgz (docs/formats/export-bundle.md "Verification"): no
 * network, no database — only the archive (read with core's safe tar reader) and optionally a
 * trusted public key. Every check is reported and named by the file it is about; one failure does
 * not hide the others. Data files are hashed as they stream by, never kept.
 */
import { parseJson } from '@stella/core/canonical-json';
import { digestEquals, sha256Digest } from '@stella/core/digest';
import { parseEnvelope, verifyEnvelope } from '@stella/core/dsse';
import { isStellaError } from '@stella/core/errors';
import { IN_TOTO_PAYLOAD_TYPE, statementFromEnvelope } from '@stella/core/in-toto';
import { keySetFromPublicKeys, parsePublicKey } from '@stella/core/signing';
import { compareUtf8, parseChecksumsTxt, readBundleFiles, type BundleFile, type TarSource } from '@stella/core/tar';
import {
  CHECKSUMS_FILE,
  EXPORT_PREDICATE_TYPE,
  MANIFEST_DSSE_FILE,
  MANIFEST_FILE,
  MANIFEST_PAYLOAD_TYPE,
  STATEMENT_DSSE_FILE,
  isReservedBundlePath,
} from './bundle-files.js';
import { rerunHash } from './export-manifest.js';

export type ExportCheckStatus = 'pass' | 'fail' | 'skip';

export interface ExportVerifyCheck {
  /** `archive`, `checksum:<file>`, `manifest`, `file:<path>`, `rerun-hash`, `signature:<envelope file>`, `statement`. */
  check: string;
  status: ExportCheckStatus;
  detail?: string;
  /** `sha256:<hex>` the verifier computed itself over the bytes (file and checksum checks). */
  digest?: string;
}

export interface ExportVerifyReport {
  /** No check failed and both signatures verified. */
  ok: boolean;
  /** True when the signatures were checked against a key the caller gave (not the bundle's own). */
  signerChecked: boolean;
  /**
   * Whose snapshot and which profile version, as export.json says. No run id: the manifest names
   * its inputs, not the run (docs/adr/0012); the run that produced a bundle is the one whose
   * archive digest (GET /v1/exports/runs/{id} `result.archive.digest`) is the bundle's sha256.
   */
  tenant?: string;
  profile?: { id: string; name: string; version: number };
  manifestDigest?: string;
  rerunHash?: string;
  checks: ExportVerifyCheck[];
}

export interface ExportVerifyOptions {
  /** Trusted signer key (SPKI PEM). Without it keys/*.pem of the bundle are used: integrity only. */
  publicKeyPem?: string;
  /**
   * Called with each check as it is decided, in report order, so a caller can stream them
   * (`GET /v1/exports/runs/{id}/verify`). File checks are decided once the archive has been read.
   */
  onCheck?: (check: ExportVerifyCheck) => void;
}

/** Largest metadata file (manifest, envelopes, checksums, keys) kept in memory. */
const MAX_META_BYTES = 256 * 1024 * 1024;
/** Export bundles may hold many files (mirror:full per-record layout) and large ones. */
const READ_LIMITS = { maxEntries: 5_000_000, maxEntrySize: 64 * 1024 ** 3, maxTotalSize: 1024 ** 4 };

interface ManifestFile {
  path: string;
  size: number;
  digest: string;
  mediaType: string;
}

function message(err: unknown): string {
  return isStellaError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
}

interface ParsedManifest {
  files: ManifestFile[];
  rerunHash: unknown;
  tenant?: unknown;
  profile?: { id?: unknown; name?: unknown; version?: unknown };
}

function parseManifest(bytes: Uint8Array): ParsedManifest {
  const m = parseJson(Buffer.from(bytes).toString('utf8')) as Record<string, unknown> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.files)) throw new Error('export.json has no "files" list');
  for (const [i, f] of (m.files as unknown[]).entries()) {
    const e = f as Partial<ManifestFile> | null;
    if (!e || typeof e.path !== 'string' || typeof e.digest !== 'string' || typeof e.size !== 'number')
      throw new Error(`export.json files[${i}] lacks path, size or digest`);
  }
  return m as unknown as ParsedManifest;
}

/** Verifies an export.tgz (bytes or a stream). Never throws for a bad bundle: it reports. */
export async function verifyExportBundle(
  source: TarSource,
  options: ExportVerifyOptions = {},
): Promise<ExportVerifyReport> {
  const checks: ExportVerifyCheck[] = [];
  const add = (check: string, status: ExportCheckStatus, detail?: string, digest?: string) => {
    const c: ExportVerifyCheck = {
      check,
      status,
      ...(detail !== undefined ? { detail } : {}),
      ...(digest !== undefined ? { digest } : {}),
    };
    checks.push(c);
    options.onCheck?.(c);
  };
  const extra: Partial<ExportVerifyReport> = {};
  const report = (): ExportVerifyReport => ({
    ok:
      checks.every((c) => c.status !== 'fail') &&
      [MANIFEST_DSSE_FILE, STATEMENT_DSSE_FILE].every((f) =>
        checks.some((c) => c.check === `signature:${f}` && c.status === 'pass'),
      ),
    signerChecked: options.publicKeyPem !== undefined,
    ...extra,
    checks,
  });

  let files: Map<string, BundleFile>;
  try {
    files = await readBundleFiles(source, {
      ...READ_LIMITS,
      keepBytes: isReservedBundlePath,
      maxKeptBytes: MAX_META_BYTES,
    });
    add('archive', 'pass', `${files.size} files`);
  } catch (err) {
    add('archive', 'fail', message(err));
    return report();
  }

  // 1. checksums.txt: each listed file matches; every file but checksums.txt is listed.
  const checksums = files.get(CHECKSUMS_FILE);
  if (!checksums?.bytes) add(`checksum:${CHECKSUMS_FILE}`, 'fail', 'checksums.txt is missing');
  else {
    const listed = parseChecksumsTxt(Buffer.from(checksums.bytes).toString('utf8'));
    if (typeof listed === 'string') add(`checksum:${CHECKSUMS_FILE}`, 'fail', listed);
    else {
      for (const [path, hex] of [...listed].sort((a, b) => compareUtf8(a[0], b[0]))) {
        const f = files.get(path);
        if (!f) add(`checksum:${path}`, 'fail', 'listed but not in the archive');
        else if (f.hex !== hex)
          add(`checksum:${path}`, 'fail', `sha256 is ${f.hex}, checksums.txt says ${hex}`, `sha256:${f.hex}`);
        else add(`checksum:${path}`, 'pass', undefined, `sha256:${f.hex}`);
      }
      for (const path of files.keys())
        if (path !== CHECKSUMS_FILE && !listed.has(path))
          add(`checksum:${path}`, 'fail', 'not listed in checksums.txt');
    }
  }

  // 2. export.json: every data file present with its size and digest; no unlisted data files.
  const manifestFile = files.get(MANIFEST_FILE);
  let manifest: ReturnType<typeof parseManifest> | undefined;
  try {
    if (!manifestFile?.bytes) throw new Error('export.json is missing');
    manifest = parseManifest(manifestFile.bytes);
    extra.manifestDigest = sha256Digest(manifestFile.bytes);
    if (typeof manifest.tenant === 'string') extra.tenant = manifest.tenant;
    const p = manifest.profile;
    if (p && typeof p.id === 'string' && typeof p.name === 'string' && typeof p.version === 'number')
      extra.profile = { id: p.id, name: p.name, version: p.version };
    add('manifest', 'pass', undefined, extra.manifestDigest);
  } catch (err) {
    add('manifest', 'fail', message(err));
  }
  if (manifest) {
    const declared = new Set<string>();
    for (const entry of manifest.files) {
      declared.add(entry.path);
      const f = files.get(entry.path);
      const got = f ? `sha256:${f.hex}` : undefined;
      if (!f) add(`file:${entry.path}`, 'fail', 'missing from the archive');
      else if (!digestEquals(got!, entry.digest))
        add(`file:${entry.path}`, 'fail', `${got} differs from export.json's ${entry.digest}`, got);
      else if (f.size !== entry.size)
        add(`file:${entry.path}`, 'fail', `${f.size} bytes, export.json says ${entry.size}`, got);
      else add(`file:${entry.path}`, 'pass', undefined, got);
    }
    for (const [path, f] of files)
      if (!isReservedBundlePath(path) && !declared.has(path))
        add(`file:${path}`, 'fail', 'in the archive but not in export.json', `sha256:${f.hex}`);
    const recomputed = rerunHash(manifest.files);
    if (recomputed === manifest.rerunHash) {
      add('rerun-hash', 'pass', recomputed);
      extra.rerunHash = recomputed;
    } else add('rerun-hash', 'fail', `recomputed ${recomputed}, export.json says ${String(manifest.rerunHash)}`);
  }

  // 3. Signatures: the trusted key, or the bundle's own (integrity only).
  let keys: ReturnType<typeof keySetFromPublicKeys> | undefined;
  try {
    const pems = options.publicKeyPem
      ? [options.publicKeyPem]
      : [...files]
          .filter(([p, f]) => p.startsWith('keys/') && p.endsWith('.pem') && f.bytes)
          .map(([, f]) => Buffer.from(f.bytes!).toString('utf8'));
    if (pems.length === 0) throw new Error('no public key: none in keys/ and none given');
    keys = keySetFromPublicKeys(pems.map((p) => parsePublicKey(p)));
  } catch (err) {
    add('key', 'fail', message(err));
  }
  const keyNote = options.publicKeyPem ? 'given key' : 'key from the bundle';

  const detached = files.get(MANIFEST_DSSE_FILE);
  try {
    if (!detached?.bytes) throw new Error(`${MANIFEST_DSSE_FILE} is missing`);
    if (!keys) throw new Error('no usable key');
    const env = parseEnvelope(detached.bytes);
    const v = verifyEnvelope(env, { keys, expectedPayloadType: MANIFEST_PAYLOAD_TYPE });
    if (!manifestFile?.bytes || !Buffer.from(env.payload).equals(Buffer.from(manifestFile.bytes)))
      throw new Error('the signed payload is not the bytes of export.json');
    add(`signature:${MANIFEST_DSSE_FILE}`, 'pass', `${v.verifiedKeyIds.join(', ')} (${keyNote})`);
  } catch (err) {
    add(`signature:${MANIFEST_DSSE_FILE}`, 'fail', message(err));
  }

  const embedded = files.get(STATEMENT_DSSE_FILE);
  try {
    if (!embedded?.bytes) throw new Error(`${STATEMENT_DSSE_FILE} is missing`);
    if (!keys) throw new Error('no usable key');
    const env = parseEnvelope(embedded.bytes);
    const v = verifyEnvelope(env, { keys, expectedPayloadType: IN_TOTO_PAYLOAD_TYPE });
    add(`signature:${STATEMENT_DSSE_FILE}`, 'pass', `${v.verifiedKeyIds.join(', ')} (${keyNote})`);
    const st = statementFromEnvelope(env);
    const problems: string[] = [];
    if (st.predicateType !== EXPORT_PREDICATE_TYPE) problems.push(`predicateType ${st.predicateType}`);
    const subjects = new Map(st.subject.map((s) => [s.name ?? '', s.digest.sha256]));
    const expected = new Map<string, string>();
    if (manifestFile) expected.set(MANIFEST_FILE, sha256Digest(manifestFile.bytes ?? new Uint8Array()).slice(7));
    for (const f of manifest?.files ?? []) expected.set(f.path, f.digest.replace(/^sha256:/, ''));
    for (const [name, hex] of expected)
      if (subjects.get(name) !== hex)
        problems.push(`subject ${name} ${subjects.has(name) ? 'has another digest' : 'is missing'}`);
    for (const name of subjects.keys()) if (!expected.has(name)) problems.push(`subject ${name} is not in the bundle`);
    add('statement', problems.length ? 'fail' : 'pass', problems.length ? problems.join('; ') : undefined);
  } catch (err) {
    add(`signature:${STATEMENT_DSSE_FILE}`, 'fail', message(err));
  }
  return report();
}
