import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isStellaError } from '@stella/core/errors';
import { buildManifest, descriptorFor, emptyJsonBytes } from '@stella/core/oci';
import { createTar, readTar } from '@stella/core/tar';
import { needTool, run, tempDir } from '@stella/testkit';
import { extractOciArchive, writeOciArchive } from '@stella/platform/oci-layout';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function input() {
  const content = Buffer.from('pretend this is db.tar.gz');
  const layer = descriptorFor(content, 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip', { title: 'db.tar.gz' });
  const m = buildManifest({ artifactType: 'application/vnd.aquasec.trivy.config.v1+json', layers: [layer] });
  return {
    m,
    data: { blobs: [{ bytes: emptyJsonBytes() }, { bytes: content }], manifests: [{ bytes: m.bytes, refName: '2' }] },
  };
}

async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    if (!isStellaError(e)) throw e;
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('oci-archive (a layout in one tar)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('stella-oci-archive-');
  });
  after(() => tmp.cleanup());

  test('deterministic archive that extracts back to a valid layout', async () => {
    const { m, data } = input();
    await writeOciArchive(join(tmp.path, 'a.tar'), data);
    await writeOciArchive(join(tmp.path, 'b.tar'), data);
    const a = await readFile(join(tmp.path, 'a.tar'));
    assert.equal(sha256(a), sha256(await readFile(join(tmp.path, 'b.tar'))));
    const names: string[] = [];
    for await (const e of readTar(a)) names.push(e.path);
    assert.deepEqual(names.slice(0, 2), ['blobs', 'blobs/sha256']);
    assert.ok(names.includes('index.json') && names.includes('oci-layout'));
    const layout = await extractOciArchive(join(tmp.path, 'a.tar'), join(tmp.path, 'x'));
    assert.equal(layout.find('2')?.descriptor.digest, m.descriptor.digest);
    await rejectsCode(writeOciArchive(join(tmp.path, 'a.tar'), data), 'CONFLICT');
    await rejectsCode(extractOciArchive(join(tmp.path, 'a.tar'), join(tmp.path, 'x')), 'CONFLICT');
  });

  test('unsafe or tampered archives leave nothing behind', async () => {
    const evil = join(tmp.path, 'evil.tar');
    await writeFile(evil, await collect(createTar([{ path: 'oci-layout', size: 2, body: Buffer.from('{}') }])));
    // replace the name by hand: the writer refuses '../', so patch the header bytes
    const bytes = await readFile(evil);
    bytes.write('../x\u0000\u0000\u0000\u0000\u0000\u0000', 0, 'latin1');
    let sum = 0;
    bytes.fill(0x20, 148, 156);
    for (let i = 0; i < 512; i++) sum += bytes[i]!;
    bytes.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'latin1');
    await writeFile(evil, bytes);
    await rejectsCode(extractOciArchive(evil, join(tmp.path, 'evil')), 'ARCHIVE_UNSAFE_ENTRY');
    await assert.rejects(stat(join(tmp.path, 'evil')), { code: 'ENOENT' });

    const { data } = input();
    await writeOciArchive(join(tmp.path, 't.tar'), data);
    const t = await readFile(join(tmp.path, 't.tar'));
    const at = t.indexOf('pretend this is db.tar.gz');
    t.write('X', at, 'latin1');
    await writeFile(join(tmp.path, 't.tar'), t);
    await rejectsCode(extractOciArchive(join(tmp.path, 't.tar'), join(tmp.path, 't')), 'DIGEST_MISMATCH');
    await assert.rejects(stat(join(tmp.path, 't')), { code: 'ENOENT' });
  });

  describe('with skopeo', { skip: needTool('skopeo') }, () => {
    test('skopeo reads our oci-archive; we extract skopeo oci-archive output', async () => {
      const { m, data } = input();
      const file = join(tmp.path, 'sk.tar');
      await writeOciArchive(file, data);
      const r = await run('skopeo', ['inspect', '--raw', `oci-archive:${file}:2`]);
      assert.equal(r.code, 0, r.stderr.toString());
      assert.ok(r.stdout.equals(Buffer.from(m.bytes)));
      const theirs = join(tmp.path, 'theirs.tar');
      const c = await run('skopeo', ['--insecure-policy', 'copy', `oci-archive:${file}:2`, `oci-archive:${theirs}:2`]);
      assert.equal(c.code, 0, c.stderr.toString());
      const layout = await extractOciArchive(theirs, join(tmp.path, 'theirs'));
      assert.equal(layout.find('2')?.descriptor.digest, m.descriptor.digest);
    });
  });
});
