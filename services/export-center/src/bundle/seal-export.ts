/**
 * Sealing an export (bundle/export-bundle.ts `SealExportBundle`; docs/formats/export-bundle.md):
 * export.json over the staged files, its detached DSSE signature, the embedded in-toto form,
 * checksums.txt, the public key and VERIFY.md, then one deterministic export.tgz (core tar writer:
 * sorted entries, mtime fixed, deterministic gzip) streamed to a file beside the staging directory.
 * The archive is written under a temporary name and renamed only when complete, so a failure
 * leaves no half-written archive.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256Digest, sha256Hex } from '@stella/core/digest';
import { serializeEnvelope, signEnvelope } from '@stella/core/dsse';
import { IN_TOTO_PAYLOAD_TYPE, buildStatement, serializeStatement, type StatementV1 } from '@stella/core/in-toto';
import { spkiPem, type Signer } from '@stella/core/signing';
import { compareUtf8, createTarGz, type TarEntryInput } from '@stella/core/tar';
import type { ExportFile } from '../adapters/adapter.js';
import type { SealExportBundle, SealedExport, StagingSink } from './export-bundle.js';
import {
  CHECKSUMS_FILE,
  EXPORT_PREDICATE_TYPE,
  MANIFEST_DSSE_FILE,
  MANIFEST_FILE,
  MANIFEST_PAYLOAD_TYPE,
  PUBLIC_KEY_FILE,
  STATEMENT_DSSE_FILE,
  VERIFY_FILE,
} from './bundle-files.js';
import { buildManifest, manifestBytes, type ExportManifest } from './export-manifest.js';

const VERIFY_MD = `# Verifying this export bundle offline

Needs only \`sha256sum\` and \`openssl\` (or \`stella export verify export.tgz --key <trusted.pub.pem>\`).

1. Files: \`sha256sum -c checksums.txt\` — every file of the bundle but checksums.txt itself.
2. Manifest: every entry of \`export.json\` "files" has that size and sha256 digest; no other data
   files are present. "rerunHash" is sha256 over the sorted "digest" values, each followed by "\\n".
3. Detached signature: export.dsse.json is a DSSE v1 envelope whose payload is exactly the bytes of
   export.json (payloadType ${MANIFEST_PAYLOAD_TYPE}). Verify its signature over
   PAE(payloadType, payload) with a key you trust (keys/export.pub.pem only proves integrity).
4. Embedded provenance: export.intoto.dsse.json is a DSSE envelope over an in-toto Statement v1
   (predicateType ${EXPORT_PREDICATE_TYPE}) whose subjects are export.json and every data file.

Format: docs/formats/export-bundle.md of StellaOps Export & Evidence.
`;

const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const hexOf = (digest: string) => digest.slice('sha256:'.length);

/** The in-toto Statement of a sealed export: export.json and every data file as subjects. */
export function exportStatement(manifest: ExportManifest, manifestDigest: string): StatementV1 {
  const subject = [
    { name: MANIFEST_FILE, digest: { sha256: hexOf(manifestDigest) } },
    ...manifest.files.map((f) => ({ name: f.path, digest: { sha256: hexOf(f.digest) } })),
  ].sort((a, b) => compareUtf8(a.name, b.name));
  return buildStatement({
    subject,
    predicateType: EXPORT_PREDICATE_TYPE,
    predicate: {
      manifest: { path: MANIFEST_FILE, digest: manifestDigest },
      profile: manifest.profile,
      tenant: manifest.tenant,
      ledgerSeq: manifest.ledgerSeq,
      adapter: { id: manifest.adapter.id, version: manifest.adapter.version },
      counts: manifest.counts,
      rerunHash: manifest.rerunHash,
      ...(manifest.exportTime !== undefined ? { exportTime: manifest.exportTime } : {}),
    },
  });
}

/** The sha256sum line of one file (GNU coreutils text mode: hex, two spaces, name). */
const checksumLine = (hex: string, path: string) => `${hex}  ${path}\n`;

/** Where the archive of a staging area goes: beside it, in the same parent directory. */
export function archivePathFor(staging: StagingSink): string {
  return `${staging.dir}.tgz`;
}

export const sealExportBundle: SealExportBundle = async (staging, input, signer: Signer): Promise<SealedExport> => {
  const dataFiles: readonly ExportFile[] = staging.files();
  const manifest = buildManifest(input, dataFiles, signer.keyId);
  const manifestJson = manifestBytes(manifest);
  const manifestDigest = sha256Digest(manifestJson);

  const detached = await signEnvelope(manifestJson, MANIFEST_PAYLOAD_TYPE, [signer]);
  const statement = await signEnvelope(
    serializeStatement(exportStatement(manifest, manifestDigest)),
    IN_TOTO_PAYLOAD_TYPE,
    [signer],
  );
  const publicKeyPem = spkiPem(
    createPublicKey({ key: Buffer.from(signer.publicKeySpki()), format: 'der', type: 'spki' }),
  );

  const meta: { path: string; bytes: Uint8Array }[] = [
    { path: MANIFEST_FILE, bytes: manifestJson },
    { path: MANIFEST_DSSE_FILE, bytes: text(serializeEnvelope(detached)) },
    { path: STATEMENT_DSSE_FILE, bytes: text(serializeEnvelope(statement)) },
    { path: PUBLIC_KEY_FILE, bytes: text(publicKeyPem) },
    { path: VERIFY_FILE, bytes: text(VERIFY_MD) },
  ];
  const checksums = [
    ...meta.map((m) => ({ path: m.path, hex: sha256Hex(m.bytes) })),
    ...manifest.files.map((f) => ({ path: f.path, hex: hexOf(f.digest) })),
  ]
    .sort((a, b) => compareUtf8(a.path, b.path))
    .map((l) => checksumLine(l.hex, l.path))
    .join('');

  const entries: TarEntryInput[] = [
    ...meta.map((m) => ({ path: m.path, body: m.bytes })),
    { path: CHECKSUMS_FILE, body: text(checksums) },
    ...manifest.files.map((f) => ({
      path: f.path,
      size: f.size,
      body: () => createReadStream(join(staging.dir, ...f.path.split('/'))),
    })),
  ];

  const archivePath = archivePathFor(staging);
  const partial = `${archivePath}.partial`;
  const hash = createHash('sha256');
  let archiveSize = 0;
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      archiveSize += chunk.byteLength;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      createTarGz(entries, input.exportTime !== null ? { mtime: new Date(input.exportTime) } : {}),
      tee,
      createWriteStream(partial, { flags: 'w' }),
    );
    await rename(partial, archivePath);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return {
    archivePath,
    archiveDigest: `sha256:${hash.digest('hex')}`,
    archiveSize,
    manifestDigest,
    rerunHash: manifest.rerunHash,
    keyId: signer.keyId,
    files: manifest.files,
  };
};
