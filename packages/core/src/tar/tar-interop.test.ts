// Independent verifiers for the tar writer/reader (DESIGN.md §5): GNU tar and gzip read what we
// write; we read what GNU tar and Python's tarfile write, and refuse the malicious archives they
// can be told to produce.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile, stat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { isStellaError } from '@stella/core/errors';
import { createTarGz, readTarGz, type TarReadOptions } from '@stella/core/tar';
import { needTool, run, tempDir } from '@stella/testkit';
import { collect } from './tar-testing.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function walk(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await walk(root, p)));
    else out.push(relative(root, p));
  }
  return out;
}

async function digestsOf(root: string): Promise<Record<string, string>> {
  const res: Record<string, string> = {};
  for (const p of (await walk(root)).sort()) res[p] = sha256(await readFile(join(root, p)));
  return res;
}

async function readFileDigests(file: string, opts: TarReadOptions = {}): Promise<Record<string, string>> {
  const res: Record<string, string> = {};
  for await (const e of readTarGz(createReadStream(file), opts)) {
    if (e.type === 'file') res[e.path] = sha256(await collect(e.body));
  }
  return res;
}

const longName = `${'deep/'.repeat(25)}${'n'.repeat(120)}.json`;

describe(
  'tar interop with GNU tar and gzip',
  { skip: needTool('tar') || needTool('gzip') || needTool('sha256sum') },
  () => {
    let tmp: { path: string; cleanup: () => Promise<void> };
    let src: string;
    before(async () => {
      tmp = await tempDir('stella-tar-');
      src = join(tmp.path, 'src');
      const files: Record<string, Buffer> = {
        'manifest.json': Buffer.from('{"a":1}\n'),
        'artifacts/sbom.cdx.json': randomBytes(70_000),
        'artifacts/empty.txt': Buffer.alloc(0),
        'artifacts/exactly-512.bin': randomBytes(512),
        'données/résumé-ü.txt': Buffer.from('utf-8 names\n'),
        [longName]: randomBytes(1000),
      };
      for (const [p, b] of Object.entries(files)) {
        await mkdir(join(src, p, '..'), { recursive: true });
        await writeFile(join(src, p), b);
      }
    });
    after(() => tmp.cleanup());

    async function ourArchive(name: string): Promise<string> {
      const entries = [];
      for (const p of await walk(src)) {
        const full = join(src, p);
        entries.push({ path: p, size: (await stat(full)).size, body: () => createReadStream(full) });
      }
      const out = join(tmp.path, name);
      await pipeline(createTarGz(entries), createWriteStream(out));
      return out;
    }

    test('GNU tar lists exactly our entries with uid/gid 0, mtime 1970 and fixed modes', async () => {
      const file = await ourArchive('ours.tgz');
      const r = await run('tar', ['--numeric-owner', '--utc', '--quoting-style=literal', '-tvzf', file]);
      assert.equal(r.code, 0, r.stderr.toString());
      const lines = r.stdout.toString().trim().split('\n');
      const listed = lines.map((l) => {
        const m = /^(\S+) (\d+)\/(\d+)\s+(\d+) (\S+ \S+) (.*)$/.exec(l);
        assert.ok(m, l);
        return { perms: m[1], uid: m[2], gid: m[3], size: Number(m[4]), time: m[5], name: m[6] };
      });
      const ours: string[] = [];
      for await (const e of readTarGz(createReadStream(file)))
        ours.push(e.type === 'directory' ? `${e.path}/` : e.path);
      assert.deepEqual(
        listed.map((x) => x.name),
        ours,
      );
      for (const x of listed) {
        assert.equal(x.uid, '0');
        assert.equal(x.gid, '0');
        assert.equal(x.time, '1970-01-01 00:00');
        assert.ok(x.perms === '-rw-r--r--' || x.perms === 'drwxr-xr-x', x.perms);
      }
      assert.ok(listed.some((x) => x.name === longName));
      const gz = await run('gzip', ['-t', file]);
      assert.equal(gz.code, 0, gz.stderr.toString());
      // `gzip -l -v` shows the header fields: no stored name, time 0 (shown as Jan 1 1970 or similar).
      const head = (await readFile(file)).subarray(0, 10);
      assert.equal(head[3], 0, 'FLG: no FNAME/FCOMMENT/FEXTRA');
    });

    test('GNU tar extracts files with the same sha256 as the sources (checked by sha256sum)', async () => {
      const file = await ourArchive('ours2.tgz');
      const dest = join(tmp.path, 'x-gnu');
      await mkdir(dest);
      const r = await run('tar', ['-xzf', file, '-C', dest]);
      assert.equal(r.code, 0, r.stderr.toString());
      assert.deepEqual(await digestsOf(dest), await digestsOf(src));
      // sha256sum, an independent hasher, agrees on the extracted copy.
      const sums = Object.entries(await digestsOf(src))
        .map(([p, d]) => `${d}  ${p}\n`)
        .join('');
      const check = await run('sha256sum', ['-c', '--quiet', '-'], { cwd: dest, input: sums });
      assert.equal(check.code, 0, check.stdout.toString() + check.stderr.toString());
      assert.equal((await stat(join(dest, 'artifacts'))).mode & 0o777, 0o755);
    });

    test('two writes of the same tree are byte-identical', async () => {
      const a = await readFile(await ourArchive('d1.tgz'));
      const b = await readFile(await ourArchive('d2.tgz'));
      assert.equal(sha256(a), sha256(b));
    });

    for (const format of ['gnu', 'posix']) {
      test(`we read GNU tar --format=${format} archives (./ root, long names)`, async () => {
        const file = join(tmp.path, `gnu-${format}.tgz`);
        const r = await run('tar', [
          `--format=${format}`,
          '--sort=name',
          '--owner=0',
          '--group=0',
          '--numeric-owner',
          '--mtime=@0',
          '-czf',
          file,
          '-C',
          src,
          '.',
        ]);
        assert.equal(r.code, 0, r.stderr.toString());
        assert.deepEqual(await readFileDigests(file), await digestsOf(src));
      });
    }
  },
);

const py = '/usr/bin/python3';

describe('malicious archives built by Python tarfile', { skip: needTool(py) }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('stella-tar-evil-');
  });
  after(() => tmp.cleanup());

  // Each script gets `t` (a TarFile opened for gzip writing) and helpers `add_file(name, data)`.
  const prelude = `
import tarfile, io, sys
t = tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT)
def add_file(name, data=b'x'):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def add(name, type, linkname=''):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = linkname; t.addfile(i)
`;
  const cases: Array<[string, string, string, TarReadOptions?]> = [
    ['dot-dot', `add_file('../x')`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['nested dot-dot', `add_file('a/../../x')`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['absolute', `add_file('/etc/x')`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['symlink to / (default policy)', `add('root', tarfile.SYMTYPE, '/')`, 'ARCHIVE_UNSAFE_ENTRY'],
    [
      'symlink to / (internal links allowed)',
      `add('root', tarfile.SYMTYPE, '/')`,
      'ARCHIVE_UNSAFE_ENTRY',
      { links: 'internal' },
    ],
    [
      'symlink then file through it',
      `add('d', tarfile.SYMTYPE, 'inside')\nadd_file('d/evil')`,
      'ARCHIVE_UNSAFE_ENTRY',
      { links: 'internal' },
    ],
    [
      'symlink escaping via ..',
      `add('a/l', tarfile.SYMTYPE, '../../etc')`,
      'ARCHIVE_UNSAFE_ENTRY',
      { links: 'internal' },
    ],
    [
      'hardlink escaping',
      `add('h', tarfile.LNKTYPE, '../../etc/passwd')`,
      'ARCHIVE_UNSAFE_ENTRY',
      { links: 'internal' },
    ],
    ['hardlink absolute', `add('h', tarfile.LNKTYPE, '/etc/passwd')`, 'ARCHIVE_UNSAFE_ENTRY', { links: 'internal' }],
    ['duplicate entry', `add_file('a', b'1')\nadd_file('a', b'2')`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['char device', `add('null', tarfile.CHRTYPE)`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['block device', `add('sda', tarfile.BLKTYPE)`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['fifo', `add('pipe', tarfile.FIFOTYPE)`, 'ARCHIVE_UNSAFE_ENTRY'],
    ['huge file over the limit', `add_file('big', b'z' * 100000)`, 'ARCHIVE_LIMIT_EXCEEDED', { maxEntrySize: 99_999 }],
    ['too many entries', `for i in range(50): add_file(f'f{i}')`, 'ARCHIVE_LIMIT_EXCEEDED', { maxEntries: 49 }],
    [
      'PAX path with ..',
      `i = tarfile.TarInfo('ok'); i.pax_headers = {'path': 'x/../../y'}; i.size = 1; t.addfile(i, io.BytesIO(b'x'))`,
      'ARCHIVE_UNSAFE_ENTRY',
    ],
  ];
  for (const [name, script, code, opts] of cases) {
    test(name, async () => {
      const file = join(tmp.path, `${name.replace(/\W+/g, '_')}.tgz`);
      const r = await run(py, ['-c', `${prelude}\n${script}\nt.close()`, file]);
      assert.equal(r.code, 0, r.stderr.toString());
      await assert.rejects(readFileDigests(file, opts), (e: unknown) => {
        if (!isStellaError(e)) throw e;
        assert.equal(e.code, code, e.message);
        return true;
      });
    });
  }

  test('truncated gzip from Python', async () => {
    const file = join(tmp.path, 'trunc.tgz');
    const r = await run(py, ['-c', `${prelude}\nimport os\nadd_file('a', os.urandom(100000))\nt.close()`, file]);
    assert.equal(r.code, 0, r.stderr.toString());
    const full = await readFile(file);
    assert.equal(Object.keys(await readFileDigests(file)).length, 1);
    await writeFile(file, full.subarray(0, full.length - 100));
    await assert.rejects(readFileDigests(file), (e: unknown) => isStellaError(e, 'ARCHIVE_MALFORMED'));
  });

  test('Python tarfile reads our archive with the same contents', async () => {
    const body = randomBytes(4000);
    const gz = await collect(
      createTarGz([
        { path: 'x/y.bin', size: body.length, body },
        { path: `${'p'.repeat(200)}/q.txt`, size: 2, body: Buffer.from('ok') },
      ]),
    );
    const file = join(tmp.path, 'ours.tgz');
    await writeFile(file, gz);
    const r = await run(py, [
      '-c',
      `
import tarfile, hashlib, sys
with tarfile.open(sys.argv[1], 'r:gz') as t:
    for m in t.getmembers():
        d = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else '-'
        print(m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, repr(m.uname), m.mtime, d)
`,
      file,
    ]);
    assert.equal(r.code, 0, r.stderr.toString());
    const lines = r.stdout.toString().trim().split('\n');
    assert.deepEqual(lines, [
      `${'p'.repeat(200)} 5 0o755 0 0 '' 0 -`,
      `${'p'.repeat(200)}/q.txt 0 0o644 0 0 '' 0 ${sha256(Buffer.from('ok'))}`,
      `x 5 0o755 0 0 '' 0 -`,
      `x/y.bin 0 0o644 0 0 '' 0 ${sha256(body)}`,
    ]);
  });
});
