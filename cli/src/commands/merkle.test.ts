import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { tempDir } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';

// Independent reference for the expected root: the RFC 9162 definition, written out here.
const sha = (...p: Buffer[]) => createHash('sha256').update(Buffer.concat(p)).digest();
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.of(0), d[0]!);
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return sha(Buffer.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
}

describe('stella merkle', () => {
  let dir = '';
  let cleanup: () => Promise<void>;
  const contents = [
    Buffer.from(''),
    Buffer.from('hello\n'),
    randomBytes(3 * 1024 * 1024 + 5),
    Buffer.from('{"a":1}'),
    Buffer.from('x'),
  ];
  const names = contents.map((_, i) => `f${i}.bin`);
  const root = mth(contents).toString('hex');
  const cli = (args: string[]) => runCli(args, { cwd: dir });

  before(async () => {
    const t = await tempDir('stella-merkle-cli-');
    dir = t.path;
    cleanup = t.cleanup;
    for (let i = 0; i < contents.length; i++) await writeFile(join(dir, names[i]!), contents[i]!);
  });
  after(() => cleanup());

  test('root prints the RFC 9162 root over the files in argument order', async () => {
    const r = await cli(['merkle', 'root', ...names]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${root}\n`);
    const rev = await cli(['merkle', 'root', ...[...names].reverse()]);
    assert.equal(rev.stdout.trim(), mth([...contents].reverse()).toString('hex'));
    const j = JSON.parse((await cli(['merkle', 'root', '--json', ...names])).stdout);
    assert.equal(j.root, root);
    assert.equal(j.treeSize, 5);
    assert.equal(j.algorithm, 'rfc9162-sha256');
    // Transparency-dev vector: a single empty leaf → 6e340b9c…
    assert.equal(
      (await cli(['merkle', 'root', names[0]!])).stdout.trim(),
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
  });

  test('prove + verify round trip for every index; output is deterministic', async () => {
    for (let i = 0; i < names.length; i++) {
      const p = await cli(['merkle', 'prove', '--index', String(i), ...names]);
      assert.equal(p.code, 0, p.stderr);
      const again = await cli(['merkle', 'prove', '-i', String(i), ...names]);
      assert.equal(again.stdout, p.stdout);
      const proof = JSON.parse(p.stdout);
      assert.deepEqual(Object.keys(proof), ['algorithm', 'treeSize', 'leafIndex', 'leafHash', 'auditPath', 'root']);
      assert.equal(proof.root, root);
      await writeFile(join(dir, `p${i}.json`), p.stdout);
      const v = await cli(['merkle', 'verify', '--root', root, '--proof', `p${i}.json`, names[i]!]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /verified/);
      const vj = JSON.parse(
        (await cli(['merkle', 'verify', '--json', '--root', root.toUpperCase(), '--proof', `p${i}.json`, names[i]!]))
          .stdout,
      );
      assert.equal(vj.ok, true);
      assert.deepEqual(
        vj.checks.map((c: { check: string }) => c.check),
        ['proof-format', 'leaf-hash', 'root', 'audit-path'],
      );
    }
  });

  test('verify exits 3 and names the failed check', async () => {
    const p = JSON.parse((await cli(['merkle', 'prove', '--index', '1', ...names])).stdout);
    await writeFile(join(dir, 'good.json'), JSON.stringify(p));
    // Wrong file → leaf-hash (and audit-path) fail.
    let v = await cli(['merkle', 'verify', '--root', root, '--proof', 'good.json', names[3]!]);
    assert.equal(v.code, 3);
    assert.match(v.stdout, /FAIL leaf-hash: leaf hash mismatch/);
    assert.match(v.stderr, /verification FAILED: leaf-hash, audit-path/);
    // Another root → root + audit-path fail.
    v = await cli(['merkle', 'verify', '--json', '--root', 'ab'.repeat(32), '--proof', 'good.json', names[1]!]);
    assert.equal(v.code, 3);
    const j = JSON.parse(v.stdout);
    assert.equal(j.ok, false);
    assert.deepEqual(
      j.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { check: string }) => c.check),
      ['root', 'audit-path'],
    );
    // Tampered path element, consistent root → audit-path only.
    await writeFile(
      join(dir, 'tampered.json'),
      JSON.stringify({
        ...p,
        auditPath: [p.auditPath[0].replace(/^./, (c: string) => (c === '0' ? '1' : '0')), ...p.auditPath.slice(1)],
      }),
    );
    v = await cli(['merkle', 'verify', '--root', root, '--proof', 'tampered.json', names[1]!]);
    assert.equal(v.code, 3);
    assert.match(v.stderr, /FAILED: audit-path$/m);
    // Proof for another tree size (path length wrong), malformed and truncated JSON → proof-format.
    const malformed: [string, string][] = [
      ['size.json', JSON.stringify({ ...p, treeSize: 9 })],
      ['trunc.json', JSON.stringify(p).slice(0, 50)],
      ['dup.json', JSON.stringify(p).replace('"treeSize":5', '"treeSize":5,"treeSize":5')],
      ['idx.json', JSON.stringify({ ...p, leafIndex: 7 })],
      ['notjson.json', 'hello'],
    ];
    for (const [name, text] of malformed) {
      await writeFile(join(dir, name), text);
      v = await cli(['merkle', 'verify', '--root', root, '--proof', name, names[1]!]);
      assert.equal(v.code, 3, name);
      assert.match(v.stdout, /FAIL proof-format: malformed proof/, name);
    }
  });

  test('--tree-size/--index pin the position; an edited proof that still reaches the root exits 3', async () => {
    const p = JSON.parse((await cli(['merkle', 'prove', '--index', '4', ...names])).stdout);
    await writeFile(join(dir, 'last.json'), JSON.stringify(p));
    // Leaf 4 of 5 has the path [MTH(f0..f3)]; so does leaf 1 of a 2-leaf tree (RFC 9162 §2.1.3.2).
    await writeFile(join(dir, 'moved.json'), JSON.stringify({ ...p, treeSize: 2, leafIndex: 1 }));
    // Not pinned: the edited proof reaches the root, and the output says the position was not checked.
    let v = await cli(['merkle', 'verify', '--root', root, '--proof', 'moved.json', names[4]!]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /NOT CHECKED tree-size: taken from the proof \(treeSize 2\)/);
    assert.match(v.stdout, /NOT CHECKED leaf-index: taken from the proof \(leafIndex 1\)/);
    assert.match(v.stdout, /its position in the tree was not checked/);
    v = await cli(['merkle', 'verify', '--json', '--root', root, '--proof', 'moved.json', names[4]!]);
    assert.deepEqual(JSON.parse(v.stdout).notChecked, ['tree-size', 'leaf-index']);
    // Pinned: the edit is caught.
    v = await cli([
      'merkle',
      'verify',
      '--root',
      root,
      '--tree-size',
      '5',
      '--index',
      '4',
      '--proof',
      'moved.json',
      names[4]!,
    ]);
    assert.equal(v.code, 3);
    assert.match(v.stdout, /FAIL tree-size: tree size mismatch: the proof says 2, expected 5/);
    assert.match(v.stdout, /FAIL leaf-index: leaf index mismatch: the proof says 1, expected 4/);
    assert.match(v.stderr, /verification FAILED: tree-size, leaf-index$/m);
    v = await cli(['merkle', 'verify', '--root', root, '--index', '4', '--proof', 'moved.json', names[4]!]);
    assert.equal(v.code, 3);
    // The genuine proof with the right pins verifies and says what was checked.
    v = await cli([
      'merkle',
      'verify',
      '--root',
      root,
      '--tree-size',
      '5',
      '--index',
      '4',
      '--proof',
      'last.json',
      names[4]!,
    ]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /verified: file is leaf 4 of 5 under the root/);
    assert.doesNotMatch(v.stdout, /NOT CHECKED/);
    // Pins that cannot hold are usage errors.
    for (const bad of [
      ['--tree-size', '0'],
      ['--tree-size', '5', '--index', '5'],
      ['--index', '-1'],
    ]) {
      v = await cli(['merkle', 'verify', '--root', root, ...bad, '--proof', 'last.json', names[4]!]);
      assert.equal(v.code, 2, bad.join(' '));
    }
  });

  test('usage errors exit 2; out-of-range index and missing files exit 1', async () => {
    assert.equal((await cli(['merkle', 'root'])).code, 2);
    assert.equal((await cli(['merkle', 'prove', ...names])).code, 2, 'missing --index');
    assert.equal((await cli(['merkle', 'prove', '--index', '-1', ...names])).code, 2);
    assert.equal((await cli(['merkle', 'prove', '--index', '1.5', ...names])).code, 2);
    assert.equal((await cli(['merkle', 'verify', '--root', 'xyz', '--proof', 'good.json', names[1]!])).code, 2);
    assert.equal((await cli(['merkle', 'verify', '--root', root, names[1]!])).code, 2);
    assert.equal(
      (await cli(['merkle', 'verify', '--root', root, '--proof', 'good.json', names[1]!, names[2]!])).code,
      2,
    );
    const oor = await cli(['merkle', 'prove', '--index', '5', ...names]);
    assert.equal(oor.code, 1);
    assert.match(oor.stderr, /MERKLE_INDEX_OUT_OF_RANGE/);
    const missing = await cli(['merkle', 'root', 'nope.bin']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.bin does not exist; check the path/);
    assert.equal((await cli(['merkle', 'verify', '--root', root, '--proof', 'nope.json', names[1]!])).code, 1);
  });
});
