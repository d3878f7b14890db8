/**
 * Regenerates the sample evidence bundle of the `stella evidence verify` tests through the
 * Evidence Locker's own sealing code path (manifest → DSSE seal → deterministic archive), with a
 * fixed bundle id, time and test key, so the same run always writes the same bytes:
 *
 *   node --conditions=development --import tsx cli/testdata/evidence/make-fixture.ts [outDir]
 *
 * Writes `bundle.tgz`, `portable-bundle-v1.tgz` (the same bundle exported with
 * `outputs/verdict.json` withheld and the `ticket` metadata kept) and `seal.pub.pem` (default:
 * beside this script). The tenant salt key is a fixed test value. Not time-stamped: a TSA token
 * carries its own genTime and nonce, which would make the fixture differ on every run.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createKeySigner } from '@stella/core/signing';
// A dev tool beside the test data, not CLI code: it builds the bundle the way the service does.
import { createBundleArchive } from '../../../services/evidence-locker/src/bundle/archive.js';
import {
  buildManifest,
  byPath,
  type SealedArtifact,
} from '../../../services/evidence-locker/src/bundle/manifest.js';
import { createPortableArchive } from '../../../services/evidence-locker/src/bundle/portable.js';
import { sealManifest } from '../../../services/evidence-locker/src/bundle/seal.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const out = process.argv[2] ?? here;

const files: { path: string; role: SealedArtifact['role']; mediaType: string; text: string }[] = [
  {
    path: 'inputs/sbom.cdx.json',
    role: 'input',
    mediaType: 'application/vnd.cyclonedx+json',
    text: '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"left-pad","version":"1.3.0"}]}\n',
  },
  { path: 'logs/scan.log', role: 'log', mediaType: 'text/plain', text: 'scan started\n1 component, 0 findings\n' },
  { path: 'outputs/verdict.json', role: 'output', mediaType: 'application/json', text: '{"result":"pass"}\n' },
];
const bytes = new Map(files.map((f) => [f.path, Buffer.from(f.text, 'utf8')]));
const entries: SealedArtifact[] = files.map((f) => ({
  path: f.path,
  role: f.role,
  mediaType: f.mediaType,
  size: bytes.get(f.path)!.byteLength,
  digest: `sha256:${createHash('sha256').update(bytes.get(f.path)!).digest('hex')}`,
}));

const signer = createKeySigner(createPrivateKey(await readFile(join(here, 'seal.key.pem'))));
const m = buildManifest({
  bundleId: '01JGZ000000000000000000001',
  tenant: 'fixture',
  kind: 'evaluation',
  createdAt: new Date('2026-01-01T00:00:00.000Z'),
  subject: { name: 'registry.example/app:1.0', digest: `sha256:${createHash('sha256').update('app').digest('hex')}` },
  artifacts: entries,
  metadata: { ticket: 'CHG-1234', pipeline: 'internal-ci.fixture.example' },
  // Test-only tenant salt key (ADR 0011); a real tenant's is random and kept in the database.
  saltKey: createHash('sha256').update('stella fixture salt key').digest(),
});
const seal = await sealManifest(m.manifest, m.digest, signer, undefined);
const chunks: Buffer[] = [];
for await (const c of createBundleArchive({
  manifestBytes: m.bytes,
  signatureJson: seal.signatureJson,
  publicKeyPem: seal.publicKeyPem,
  artifacts: byPath(entries),
  openings: m.openings,
  openArtifact: async (a) => Readable.from([bytes.get(a.path)!]),
}))
  chunks.push(c as Buffer);
await writeFile(join(out, 'bundle.tgz'), Buffer.concat(chunks));
const portable: Buffer[] = [];
for await (const c of createPortableArchive({
  manifest: m.manifest,
  manifestDigest: m.digest,
  openings: m.openings,
  withhold: new Set(['outputs/verdict.json']),
  keepMetadata: ['ticket'],
  signatureJson: seal.signatureJson,
  publicKeyPem: seal.publicKeyPem,
  openArtifact: async (o) => Readable.from([bytes.get(o.path)!]),
}))
  portable.push(c as Buffer);
await writeFile(join(out, 'portable-bundle-v1.tgz'), Buffer.concat(portable));
await writeFile(join(out, 'seal.pub.pem'), seal.publicKeyPem);
console.log(`bundle ${m.manifest.bundleId}, root ${m.manifest.merkle.root}, written to ${out}`);
