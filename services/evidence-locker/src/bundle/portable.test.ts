/**
 * The portable bundle without the runtime: verify-offline.sh (run with no network and only sh,
 * sha256sum and openssl on PATH) recomputes the same RFC 9162 root as our Merkle code for many
 * tree sizes, and names each kind of damage; our verifier agrees.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createKeySigner, spkiPem } from '@stella/core/signing';
import { needTool, run, tempDir } from '@stella/testkit';
import { runVerifyOffline } from '../testing/index.js';
import { buildManifest, type SealedArtifact } from './manifest.js';
import { createPortableArchive } from './portable.js';
import { sealManifest } from './seal.js';
import { verifyBundle } from './verify.js';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const skip = needTool('openssl') || needTool('unshare') || needTool('tar');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = createKeySigner(privateKey);

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A sealed bundle of `paths` exported portable with `withhold`, extracted into `dir`. */
async function portable(dir: string, paths: string[], withhold: string[] = []) {
  const contents = new Map(paths.map((p, i) => [p, Buffer.from(`artifact ${i}: ${p}\n`)]));
  const artifacts: SealedArtifact[] = paths.map((p) => ({
    path: p,
    role: 'output',
    mediaType: 'text/plain',
    size: contents.get(p)!.byteLength,
    digest: sha(contents.get(p)!),
  }));
  const m = buildManifest({
    bundleId: '01J00000000000000000000009',
    tenant: 'acme',
    kind: 'job',
    createdAt: new Date(0),
    artifacts,
    saltKey: new Uint8Array(32).fill(3),
  });
  const seal = await sealManifest(m.manifest, m.digest, signer, undefined);
  const tgz = await bytesOf(
    createPortableArchive({
      manifest: m.manifest,
      manifestDigest: m.digest,
      openings: m.openings,
      withhold: new Set(withhold),
      keepMetadata: [],
      signatureJson: seal.signatureJson,
      publicKeyPem: seal.publicKeyPem,
      openArtifact: async (o) => Readable.from([contents.get(o.path)!]),
    }),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}.tgz`, tgz);
  assert.equal((await run('tar', ['-xzf', `${dir}.tgz`, '-C', dir])).code, 0);
  return { root: m.manifest.merkle.root, tgz };
}

describe('verify-offline.sh', { skip }, () => {
  test('recomputes the RFC 9162 root for 1 to 17 leaves, withheld ones included', async () => {
    const t = await tempDir('stella-portable-sizes-');
    try {
      for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17]) {
        const paths = Array.from({ length: n }, (_, i) => `d${i % 3}/file ${String(i).padStart(2, '0')}.txt`);
        const { root, tgz } = await portable(
          join(t.path, `n${n}`),
          paths,
          paths.filter((_, i) => i % 3 === 1),
        );
        const r = await runVerifyOffline(join(t.path, `n${n}`));
        assert.equal(r.code, 0, `${n} leaves: ${r.stdout.toString()}${r.stderr.toString()}`);
        assert.match(r.stdout.toString(), new RegExp(`^OK: .* root ${root}$`, 'm'), `${n} leaves`);
        assert.equal((await verifyBundle(tgz)).ok, true, `${n} leaves (ours)`);
      }
    } finally {
      await t.cleanup();
    }
  });

  test('a path with a double quote is unescaped from its leaf', async () => {
    const t = await tempDir('stella-portable-quote-');
    try {
      await portable(join(t.path, 'q'), ['say "hi".txt', 'plain.txt']);
      const r = await runVerifyOffline(join(t.path, 'q'));
      assert.equal(r.code, 0, r.stdout.toString() + r.stderr.toString());
      assert.match(r.stdout.toString(), /^PASS artifact:say "hi"\.txt$/m);
    } finally {
      await t.cleanup();
    }
  });

  test('each kind of damage is a FAIL line naming it, exit 3', async () => {
    const t = await tempDir('stella-portable-damage-');
    const paths = ['a.txt', 'b.txt', 'secret.txt', 'z.txt'];
    const fresh = async (name: string) => {
      const dir = join(t.path, name);
      await portable(dir, paths, ['secret.txt']);
      return dir;
    };
    const fails = async (dir: string, args: string[] = []) => {
      const r = await runVerifyOffline(dir, args);
      assert.equal(r.code, 3, r.stdout.toString() + r.stderr.toString());
      return r.stdout
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('FAIL '));
    };
    try {
      // A guessed content for the withheld artifact, with a made-up opening: the commitment refuses it.
      const guess = await fresh('guess');
      const content = Buffer.from('artifact 2: secret.txt\n');
      await writeFile(join(guess, 'artifacts/secret.txt'), content);
      const openings = (await readFile(join(guess, 'openings.jsonl'), 'utf8')).replace(
        '{"path":"secret.txt","withheld":true}',
        `{"digest":"${sha(content)}","path":"secret.txt","salt":"${'00'.repeat(32)}"}`,
      );
      await writeFile(join(guess, 'openings.jsonl'), openings);
      const g = await fails(guess);
      assert.ok(g.includes("FAIL artifact:secret.txt the opening does not open the entry's commitment"), g.join('\n'));

      // A file marked withheld but shipped anyway.
      const smuggled = await fresh('smuggled');
      await writeFile(join(smuggled, 'artifacts/secret.txt'), 'x');
      const s = await fails(smuggled);
      assert.ok(s.includes('FAIL artifact:secret.txt is marked withheld but present'), s.join('\n'));
      assert.ok(s.includes('FAIL checksum:artifacts/secret.txt (in the bundle but not listed in checksums.txt)'));

      // An edited leaf (size), checksums recomputed by the attacker: the root no longer matches the seal.
      const leaf = await fresh('leaf');
      const leaves = (await readFile(join(leaf, 'merkle/leaves.jsonl'), 'utf8')).replace(/"size":\d+/, '"size":1');
      await writeFile(join(leaf, 'merkle/leaves.jsonl'), leaves);
      const sums = await run(
        'sh',
        ['-c', "sha256sum $(sed 's/^[0-9a-f]*  //' checksums.txt) > ../sums && mv ../sums checksums.txt"],
        {
          cwd: leaf,
        },
      );
      assert.equal(sums.code, 0, sums.stderr.toString());
      const l = await fails(leaf);
      assert.ok(
        l.some((x) => x.startsWith('FAIL merkle: recomputed root')),
        l.join('\n'),
      );

      // Another key than the sealer's.
      const other = join(t.path, 'other.pub.pem');
      await writeFile(other, spkiPem(generateKeyPairSync('ed25519').publicKey));
      const k = await fails(await fresh('key'), ['--key', other]);
      assert.deepEqual(k, [`FAIL signature: the DSSE signature does not verify with ${other} (given key)`]);
      // And the sealer's key passes.
      const sealer = join(t.path, 'sealer.pub.pem');
      await writeFile(sealer, spkiPem(publicKey));
      assert.equal((await runVerifyOffline(await fresh('good'), ['--key', sealer])).code, 0);
    } finally {
      await t.cleanup();
    }
  });
});
