/**
 * The bundle writer (issue #10 §6) end to end on dataset records through `json:raw`: staging rules,
 * then a sealed export.tgz checked only with tools we did not write — GNU tar lists and extracts
 * it, `sha256sum -c` checks checksums.txt, `openssl pkeyutl` and Debian's securesystemslib verify
 * both DSSE envelopes over PAE — and byte identity of two seals of the same input.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pae, parseEnvelope } from '@stella/core/dsse';
import { statementFromEnvelope } from '@stella/core/in-toto';
import { resolveSigner, type ResolvedSigner } from '@stella/platform/keys';
import {
  SYSTEM_PYTHON,
  assertRejectsStella,
  datasetsDir,
  dssePae,
  needTool,
  opensslVerifyDsse,
  run,
  sslibVerifyDsse,
  tempDir,
} from '@stella/testkit';
import { getAdapter } from '../adapters/registry.js';
import type { SourceRecord } from '../sources/source-record.js';
import { datasetRecords, iterate } from '../testing/index.js';
import type { ExportManifestInput } from './export-bundle.js';
import { rerunHash } from './export-manifest.js';
import { sealExportBundle } from './seal-export.js';
import { createStagingSink } from './staging-sink.js';

const skipTools = needTool('tar') || needTool('sha256sum') || needTool('openssl') || needTool('gzip');
const noSslib = needTool(SYSTEM_PYTHON, { args: ['-c', 'import securesystemslib.signer'] });

const MANIFEST: Omit<ExportManifestInput, 'counts'> = {
  profile: { id: 'prof-1', name: 'nightly advisories', version: 3 },
  tenant: 'acme',
  adapter: { id: 'json:raw', version: '1', options: { compression: 'gzip', gzipLevel: 6 } },
  filter: { kinds: ['advisory', 'sbom', 'vex'] },
  ledgerSeq: 12345678901234567890n,
  exportTime: null,
};

let dir: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
let signer: ResolvedSigner;
let keyPem: string;

async function tool(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await run(cmd, args, { ...(cwd ? { cwd } : {}) });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr.toString()}${r.stdout.toString()}`);
  return r.stdout.toString();
}

/** Stages `records` through json:raw and seals them; returns the archive path and the result. */
async function exportOnce(parent: string, exportTime: string | null = null) {
  const adapter = getAdapter('json:raw');
  const v = adapter.validateOptions({ compression: 'gzip' });
  assert.ok(v.ok);
  const staging = await createStagingSink(parent);
  try {
    const progress: number[] = [];
    const { counts } = await adapter.write({
      records: iterate(records),
      options: v.options,
      out: staging,
      signal: new AbortController().signal,
      progress: (n) => progress.push(n),
      exportTime,
    });
    assert.equal(progress.at(-1), records.length);
    const sealed = await sealExportBundle(staging, { ...MANIFEST, counts, exportTime }, signer);
    return { sealed, counts };
  } finally {
    await staging.dispose();
  }
}

before(async () => {
  dir = await tempDir('stella-export-bundle-');
  records = await datasetRecords(datasetsDir, 15);
  const key = join(dir.path, 'export.key.pem');
  // The key is made by openssl, not by us.
  await tool('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
  keyPem = await tool('openssl', ['pkey', '-in', key, '-pubout']);
  signer = await resolveSigner(`file:${key}`);
});
after(async () => {
  await signer?.close();
  await dir?.cleanup();
});

describe('staging sink', () => {
  test('streams files to disk with their sha256 and size, sorted by path', async () => {
    const s = await createStagingSink(join(dir.path, 'stage-a'));
    try {
      const body = (async function* () {
        yield Buffer.from('hello ');
        yield Buffer.from('world\n');
      })();
      const f = await s.writeFile('data/b.txt', body, 'text/plain');
      await s.writeFile('a.txt', new Uint8Array([1, 2, 3]), 'application/octet-stream');
      assert.equal(f.size, 12);
      const onDisk = await readFile(join(s.dir, 'data/b.txt'));
      assert.equal(f.digest, `sha256:${createHash('sha256').update(onDisk).digest('hex')}`);
      const sum = await tool('sha256sum', [join(s.dir, 'data/b.txt')]);
      assert.equal(sum.split(' ')[0], f.digest.slice(7));
      assert.deepEqual(
        s.files().map((x) => x.path),
        ['a.txt', 'data/b.txt'],
      );
    } finally {
      await s.dispose();
    }
  });

  test('refuses duplicates, unsafe and reserved paths, case twins and file/directory clashes', async () => {
    const s = await createStagingSink(join(dir.path, 'stage-b'));
    try {
      await s.writeFile('data/x.jsonl', new Uint8Array([1]), 'application/jsonl');
      await assertRejectsStella(() => s.writeFile('data/x.jsonl', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('data/X.jsonl', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('../evil', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('/abs', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('a\\b', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('export.json', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('keys/k.pem', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(() => s.writeFile('data', new Uint8Array([2]), 'x/y'), 'ARCHIVE_UNSAFE_ENTRY');
      await assertRejectsStella(
        () => s.writeFile('data/x.jsonl/deeper', new Uint8Array([2]), 'x/y'),
        'ARCHIVE_UNSAFE_ENTRY',
      );
      assert.equal(s.files().length, 1);
    } finally {
      await s.dispose();
    }
  });

  test('a body that fails half-way leaves no file, and the path can be written again', async () => {
    const s = await createStagingSink(join(dir.path, 'stage-c'));
    try {
      const failing = (async function* () {
        yield Buffer.alloc(100_000, 1);
        throw new Error('source went away');
      })();
      await assert.rejects(() => s.writeFile('data/p.bin', failing, 'x/y'), /source went away/);
      await assert.rejects(readFile(join(s.dir, 'data/p.bin')), { code: 'ENOENT' });
      assert.equal(s.files().length, 0);
      await s.writeFile('data/p.bin', new Uint8Array([7]), 'x/y');
      assert.equal(s.files().length, 1);
    } finally {
      await s.dispose();
    }
    await assert.rejects(readdir(s.dir), { code: 'ENOENT' });
  });
});

describe(
  'sealed export bundle, checked with GNU tar, sha256sum, openssl and securesystemslib',
  { skip: skipTools },
  () => {
    let archive: Buffer;
    let out: string;
    let result: Awaited<ReturnType<typeof exportOnce>>;

    before(async () => {
      result = await exportOnce(join(dir.path, 'run-1'));
      archive = await readFile(result.sealed.archivePath);
      out = join(dir.path, 'extracted');
      await mkdir(out);
      await tool('tar', ['-xzf', result.sealed.archivePath, '-C', out]);
    });

    test('GNU tar lists the bundle files; the archive digest and size are what seal returned', async () => {
      const listing = (await tool('tar', ['-tzf', result.sealed.archivePath])).split('\n').filter(Boolean);
      for (const p of [
        'export.json',
        'export.dsse.json',
        'export.intoto.dsse.json',
        'checksums.txt',
        'VERIFY.md',
        'keys/export.pub.pem',
        'data/advisory.jsonl.gz',
        'data/sbom.jsonl.gz',
        'data/vex.jsonl.gz',
      ])
        assert.ok(listing.includes(p), `${p} in ${listing.join(', ')}`);
      assert.equal(result.sealed.archiveSize, archive.byteLength);
      assert.equal(result.sealed.archiveDigest, `sha256:${createHash('sha256').update(archive).digest('hex')}`);
    });

    test('sha256sum -c accepts checksums.txt, which lists every file but itself', async () => {
      const checked = await tool('sha256sum', ['--strict', '-c', 'checksums.txt'], out);
      const lines = checked.split('\n').filter(Boolean);
      assert.ok(
        lines.every((l) => l.endsWith(': OK')),
        checked,
      );
      const files = (await tool('find', ['.', '-type', 'f'], out))
        .split('\n')
        .filter(Boolean)
        .map((p) => p.slice(2))
        .filter((p) => p !== 'checksums.txt')
        .sort();
      assert.deepEqual(lines.map((l) => l.slice(0, -': OK'.length)).sort(), files);
    });

    test('export.json: canonical, with profile, tenant (no run id), ledger sequence, counts, files and the rerun hash', async () => {
      const bytes = await readFile(join(out, 'export.json'));
      const m = JSON.parse(bytes.toString('utf8'));
      assert.equal(m.ledgerSeq, '12345678901234567890');
      assert.deepEqual(m.profile, MANIFEST.profile);
      assert.equal(m.tenant, 'acme');
      assert.equal(m.run, undefined, 'no run id in the manifest (ADR 0012)');
      assert.deepEqual(m.adapter, MANIFEST.adapter);
      assert.equal(m.exportTime, undefined);
      const adv = records.filter((r) => r.kind === 'advisory').length;
      assert.deepEqual(m.counts, { advisory: adv, records: records.length, sbom: 2, vex: records.length - adv - 2 });
      assert.deepEqual(
        m.files.map((f: { path: string }) => f.path),
        ['data/advisory.jsonl.gz', 'data/sbom.jsonl.gz', 'data/vex.jsonl.gz'],
      );
      for (const f of m.files) {
        const body = await readFile(join(out, f.path));
        assert.equal(f.size, body.byteLength);
        assert.equal(f.digest, `sha256:${createHash('sha256').update(body).digest('hex')}`);
        assert.equal(f.mediaType, 'application/jsonl+gzip');
      }
      // The rerun hash, recomputed with coreutils: sorted digests, one per line.
      const digests = `${m.files
        .map((f: { digest: string }) => f.digest)
        .sort()
        .join('\n')}\n`;
      const viaShell = await run('sha256sum', [], { input: digests });
      assert.equal(m.rerunHash, `sha256:${viaShell.stdout.toString().split(' ')[0]}`);
      assert.equal(m.rerunHash, rerunHash(m.files));
      assert.equal(result.sealed.rerunHash, m.rerunHash);
      // RFC 8785: keys sorted, no whitespace — the bytes are their own canonical form.
      const { canonicalizeJcs } = await import('@stella/core/canonical-json');
      assert.equal(bytes.toString('utf8'), canonicalizeJcs(m));
    });

    test('json:raw data: gzip -dc (GNU) gives one RFC 8785 line per record, in ledger order; header has no name or time', async () => {
      const gz = await readFile(join(out, 'data/advisory.jsonl.gz'));
      assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
      const r = await run('gzip', ['-dc'], { input: gz });
      assert.equal(r.code, 0);
      const lines = r.stdout.toString('utf8').split('\n');
      assert.equal(lines.pop(), '');
      const advisories = records.filter((x) => x.kind === 'advisory');
      assert.equal(lines.length, advisories.length);
      const { canonicalizeJcs } = await import('@stella/core/canonical-json');
      lines.forEach((line, i) => {
        const v = JSON.parse(line);
        assert.equal(line, canonicalizeJcs(v));
        assert.equal(v.recordId, advisories[i]!.recordId);
        assert.equal(v.digest, advisories[i]!.digest);
        assert.equal(v.ledgerSeq, advisories[i]!.ledgerSeq.toString());
        assert.deepEqual(v.document, advisories[i]!.document);
      });
    });

    test('openssl pkeyutl verifies both DSSE signatures over PAE with the bundled key', async () => {
      const pub = join(out, 'keys/export.pub.pem');
      assert.equal(await readFile(pub, 'utf8'), keyPem);
      for (const name of ['export.dsse.json', 'export.intoto.dsse.json']) {
        const { payload, pae: paeBytes } = await dssePae(join(out, name));
        if (name === 'export.dsse.json') assert.ok(payload.equals(await readFile(join(out, 'export.json'))));
        const env = parseEnvelope(await readFile(join(out, name)));
        assert.ok(paeBytes.equals(Buffer.from(pae(env.payloadType, env.payload))), 'PAE built by hand = core PAE');
        const ok = await opensslVerifyDsse(join(out, name), pub, dir.path);
        assert.equal(ok.code, 0, ok.stderr.toString());
        assert.match(ok.stdout.toString(), /Signature Verified Successfully/);
        // One flipped payload bit: openssl refuses.
        const tampered = JSON.parse(await readFile(join(out, name), 'utf8'));
        const body = Buffer.from(tampered.payload, 'base64');
        body[body.length - 3]! ^= 1;
        tampered.payload = body.toString('base64');
        const bad = join(dir.path, `tampered-${name}`);
        await writeFile(bad, JSON.stringify(tampered));
        assert.notEqual((await opensslVerifyDsse(bad, pub, dir.path)).code, 0);
      }
    });

    test('the in-toto statement names export.json and every data file with their digests', async () => {
      const env = parseEnvelope(await readFile(join(out, 'export.intoto.dsse.json')));
      const st = statementFromEnvelope(env);
      assert.equal(st.predicateType, 'https://stella-ops.org/export/manifest/v1');
      const m = JSON.parse(await readFile(join(out, 'export.json'), 'utf8'));
      const want = [
        { name: 'export.json', digest: { sha256: result.sealed.manifestDigest.slice(7) } },
        ...m.files.map((f: { path: string; digest: string }) => ({
          name: f.path,
          digest: { sha256: f.digest.slice(7) },
        })),
      ].sort((a, b) => (a.name < b.name ? -1 : 1));
      assert.deepEqual(st.subject, want);
      const predicate = st.predicate as { rerunHash: string; tenant: string; run?: unknown };
      assert.equal(predicate.rerunHash, m.rerunHash);
      assert.equal(predicate.tenant, 'acme');
      assert.equal(predicate.run, undefined, 'no run id in the predicate (ADR 0012)');
    });

    test('securesystemslib (Debian python3) verifies both envelopes', { skip: noSslib }, async () => {
      for (const name of ['export.dsse.json', 'export.intoto.dsse.json']) {
        const r = await sslibVerifyDsse(join(out, name), join(out, 'keys/export.pub.pem'));
        assert.equal(r.code, 0, r.stderr.toString());
        assert.match(r.stdout.toString(), /^1\/1 valid/);
      }
    });

    test('same input → byte-identical archive; a fixed export time shows in export.json and tar mtimes', async () => {
      const again = await exportOnce(join(dir.path, 'run-2'));
      assert.ok((await readFile(again.sealed.archivePath)).equals(archive));
      assert.equal(again.sealed.rerunHash, result.sealed.rerunHash);

      const timed = await exportOnce(join(dir.path, 'run-3'), '2026-12-01T00:00:00Z');
      const listing = await tool('tar', ['--utc', '-tvzf', timed.sealed.archivePath, 'export.json']);
      assert.match(listing, /2026-12-01 00:00/);
      const tdir = join(dir.path, 'timed');
      await mkdir(tdir);
      await tool('tar', ['-xzf', timed.sealed.archivePath, '-C', tdir, 'export.json']);
      const m = JSON.parse(await readFile(join(tdir, 'export.json'), 'utf8'));
      assert.equal(m.exportTime, '2026-12-01T00:00:00.000Z');
      // Same data, so the same rerun hash even though the bundle bytes differ.
      assert.equal(timed.sealed.rerunHash, result.sealed.rerunHash);
      assert.notEqual(timed.sealed.archiveDigest, result.sealed.archiveDigest);
    });

    test('an empty export is a clear, valid bundle: no data files, zero counts', async () => {
      const staging = await createStagingSink(join(dir.path, 'run-empty'));
      try {
        const adapter = getAdapter('json:raw');
        const { counts } = await adapter.write({
          records: iterate([]),
          options: { compression: 'gzip', gzipLevel: 6 },
          out: staging,
          signal: new AbortController().signal,
          progress: () => undefined,
          exportTime: null,
        });
        assert.deepEqual(counts, { records: 0 });
        const sealed = await sealExportBundle(staging, { ...MANIFEST, counts, exportTime: null }, signer);
        assert.deepEqual(sealed.files, []);
        const e = join(dir.path, 'empty-x');
        await mkdir(e);
        await tool('tar', ['-xzf', sealed.archivePath, '-C', e]);
        await tool('sha256sum', ['--strict', '-c', 'checksums.txt'], e);
      } finally {
        await staging.dispose();
      }
    });

    test('a bad manifest input fails with a coded error and leaves no archive', async () => {
      const staging = await createStagingSink(join(dir.path, 'run-bad'));
      try {
        await assertRejectsStella(
          () => sealExportBundle(staging, { ...MANIFEST, counts: { records: -1 }, exportTime: null }, signer),
          'VALIDATION_FAILED',
        );
        await assertRejectsStella(
          () => sealExportBundle(staging, { ...MANIFEST, counts: {}, exportTime: 'yesterday' }, signer),
          'VALIDATION_FAILED',
        );
        assert.deepEqual(await readdir(join(dir.path, 'run-bad')), [staging.dir.split('/').pop()]);
      } finally {
        await staging.dispose();
      }
    });
  },
);
