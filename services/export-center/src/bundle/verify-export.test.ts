/**
 * verifyExportBundle on bundles altered with GNU tar: an extra file, a removed data file, a
 * truncated archive and an entry escaping the extraction root — each reported by its check and
 * file, never thrown.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveSigner } from '@stella/platform/keys';
import { datasetsDir, needTool, run, tempDir } from '@stella/testkit';
import { getAdapter } from '../adapters/registry.js';
import { datasetRecords, iterate } from '../testing/index.js';
import { sealExportBundle } from './seal-export.js';
import { createStagingSink } from './staging-sink.js';
import { verifyExportBundle, type ExportVerifyReport } from './verify-export.js';

const failed = (r: ExportVerifyReport) => r.checks.filter((c) => c.status === 'fail').map((c) => c.check);

describe('verifyExportBundle', { skip: needTool('tar') || needTool('openssl') }, () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let bundle: Buffer;

  async function repack(name: string, change: (root: string) => Promise<void>): Promise<Buffer> {
    const root = join(dir.path, name);
    await mkdir(root);
    assert.equal((await run('tar', ['-xzf', join(dir.path, 'export.tgz'), '-C', root])).code, 0);
    await change(root);
    const out = join(dir.path, `${name}.tgz`);
    assert.equal((await run('tar', ['-czf', out, '-C', root, '.'])).code, 0);
    return readFile(out);
  }

  before(async () => {
    dir = await tempDir('stella-export-verify-unit-');
    const key = join(dir.path, 'k.pem');
    assert.equal((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0);
    const signer = await resolveSigner(`file:${key}`);
    const adapter = getAdapter('mirror:full');
    const v = adapter.validateOptions({ layout: 'chunks', chunkSize: 4 });
    assert.ok(v.ok);
    const s = await createStagingSink(join(dir.path, 'stage'));
    try {
      const { counts } = await adapter.write({
        records: iterate(await datasetRecords(datasetsDir, 4)),
        options: v.options,
        out: s,
        signal: new AbortController().signal,
        progress: () => undefined,
        exportTime: null,
      });
      const sealed = await sealExportBundle(
        s,
        {
          profile: { id: 'p', name: 'm', version: 1 },
          tenant: 'acme',
          adapter: { id: adapter.id, version: adapter.version, options: v.options },
          filter: { kinds: ['advisory', 'sbom', 'vex'] },
          ledgerSeq: 3n,
          counts,
          exportTime: null,
        },
        signer,
      );
      bundle = await readFile(sealed.archivePath);
      await writeFile(join(dir.path, 'export.tgz'), bundle);
    } finally {
      await s.dispose();
      await signer.close();
    }
  });
  after(async () => {
    await dir?.cleanup();
  });

  test('the sealed bundle passes every check, with the bundle key (signer not checked)', async () => {
    const r = await verifyExportBundle(bundle);
    assert.equal(r.ok, true, JSON.stringify(failed(r)));
    assert.equal(r.signerChecked, false);
    assert.equal(r.tenant, 'acme');
    assert.deepEqual(r.profile, { id: 'p', name: 'm', version: 1 });
    assert.ok(r.checks.some((c) => c.check === 'file:mirror/advisory/chunks/000000.jsonl.gz' && c.status === 'pass'));
  });

  test('an added file fails as unlisted in checksums.txt and export.json', async () => {
    const r = await verifyExportBundle(await repack('extra', (root) => writeFile(join(root, 'mirror/extra.txt'), 'x')));
    assert.equal(r.ok, false);
    assert.deepEqual(failed(r).sort(), ['checksum:mirror/extra.txt', 'file:mirror/extra.txt']);
  });

  test('a removed data file fails naming it (checksum, manifest entry, statement)', async () => {
    const r = await verifyExportBundle(await repack('removed', (root) => rm(join(root, 'mirror/vex/index.jsonl'))));
    assert.equal(r.ok, false);
    assert.ok(failed(r).includes('checksum:mirror/vex/index.jsonl'));
    assert.ok(failed(r).includes('file:mirror/vex/index.jsonl'));
  });

  test('a truncated archive and an entry escaping the root fail the archive check', async () => {
    const truncated = await verifyExportBundle(bundle.subarray(0, Math.floor(bundle.length / 2)));
    assert.deepEqual(failed(truncated), ['archive']);
    const evil = join(dir.path, 'evil');
    await mkdir(join(evil, 'a'), { recursive: true });
    await writeFile(join(evil, 'a', 'f'), 'x');
    const out = join(dir.path, 'evil.tgz');
    // GNU tar writes the ../ name as given with -P.
    assert.equal((await run('tar', ['-czPf', out, '-C', join(evil, 'a'), '--transform', 's,^,../,', 'f'])).code, 0);
    const r = await verifyExportBundle(await readFile(out));
    assert.deepEqual(failed(r), ['archive']);
    assert.match(r.checks[0]!.detail!, /ARCHIVE_UNSAFE_ENTRY/);
  });
});
