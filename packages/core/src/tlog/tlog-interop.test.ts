// Independent verification of the log core (issue 12 acceptance): the Go reference code in
// interop/cmd/tlog-check — golang.org/x/mod/sumdb/note (signatures), transparency-dev/formats
// (checkpoint parsing), transparency-dev/merkle (proofs, compact-range roots, testonly vectors) and
// golang.org/x/mod/sumdb/tlog (tiles authenticated against the tree hash and recomputed from the
// entry bundles) — checks what our TypeScript writes, and our verifiers check what Go computes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp as copyDir, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { goHarness, needGo, run, tempDir } from '@stella/testkit';
import { StellaError, isStellaError } from '@stella/core/errors';
import { emptyRoot, leafHash, verifyConsistency, verifyInclusion } from '@stella/core/merkle';
import {
  TileAppender,
  TileTree,
  generateNoteKey,
  openCheckpoint,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  signNote,
  tilePath,
  type TileId,
  type TileReader,
} from '@stella/core/tlog';

const skip = needGo();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

class DirStore implements TileReader {
  constructor(readonly dir: string) {}
  async readTile(t: TileId): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(join(this.dir, tilePath(t))));
    } catch {
      throw new StellaError('TLOG_TILE_MISSING', `missing ${tilePath(t)}`);
    }
  }
  async put(blobs: { path: string; data: Uint8Array }[]): Promise<void> {
    for (const b of blobs) {
      await mkdir(dirname(join(this.dir, b.path)), { recursive: true });
      await writeFile(join(this.dir, b.path), b.data);
    }
  }
}

describe('tlog core against the Go reference implementations', { skip }, () => {
  let bin = '';
  let tmp: { path: string; cleanup: () => Promise<void> };
  const go = async (args: string[]) => {
    const r = await run(bin, args, { timeoutMs: 120_000 });
    const json = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
    return { code: r.code, json };
  };
  before(async () => {
    bin = await goHarness('tlog-check');
    tmp = await tempDir('tlog-interop-');
  });
  after(() => tmp.cleanup());

  test('transparency-dev/merkle testonly vectors (every proof up to size 40) pass our verifiers and equal our tile proofs', async () => {
    const { code, json } = await go(['vectors', '-n', '40']);
    assert.equal(code, 0);
    const v = json as {
      leaves: string[];
      emptyRoot: string;
      inclusion: { index: number; size: number; leafHash: string; proof: string[]; root: string }[];
      consistency: { size1: number; size2: number; proof: string[]; root1: string; root2: string }[];
    };
    assert.equal(v.emptyRoot, hex(emptyRoot()));
    assert.equal(v.inclusion.length, 820);
    assert.equal(v.consistency.length, 820);
    // Our tiles over the same leaves (the first 8 are the RFC 6962 test leaves, one is empty —
    // entries must be non-empty, so the tiles are built from leaf hashes' sources 1…).
    const store = new DirStore(join(tmp.path, 'vectors'));
    const app = TileAppender.empty();
    let rejected = 0;
    for (const p of v.inclusion) {
      const proof = p.proof.map(unhex);
      verifyInclusion(unhex(p.leafHash), p.index, p.size, proof, unhex(p.root));
      if (proof.length > 0) {
        const bad = proof.map((h) => Uint8Array.from(h));
        bad[bad.length - 1]![0]! ^= 1;
        assert.throws(
          () => verifyInclusion(unhex(p.leafHash), p.index, p.size, bad, unhex(p.root)),
          (e) => isStellaError(e),
        );
        rejected++;
      }
    }
    for (const p of v.consistency) {
      const proof = p.proof.map(unhex);
      verifyConsistency(p.size1, p.size2, proof, unhex(p.root1), unhex(p.root2));
      if (proof.length > 0) {
        assert.throws(
          () => verifyConsistency(p.size1, p.size2, proof.slice(1), unhex(p.root1), unhex(p.root2)),
          (e) => isStellaError(e),
        );
        rejected++;
      }
    }
    assert.ok(rejected > 1400);
    // Proofs computed from our tiles equal Go's byte for byte (log entries are non-empty, so the
    // empty RFC 6962 leaf 0 is replaced in this second set).
    const { json: ne } = await go(['vectors', '-n', '40', '-nonempty']);
    const w = ne as typeof v;
    const r = app.append(w.leaves.map(unhex));
    await store.put(r.blobs);
    const tree = new TileTree(store, 40);
    for (const p of w.inclusion)
      assert.deepEqual((await tree.inclusionProof(p.index, p.size)).hashes.map(hex), p.proof);
    for (const p of w.consistency)
      assert.deepEqual((await tree.consistencyProof(p.size1, p.size2)).hashes.map(hex), p.proof);
    for (const size of [1, 17, 40])
      assert.equal(hex(await tree.rangeHash(0, size)), w.consistency.find((c) => c.size1 === size)!.root1);
  });

  test('our signed checkpoints verify with x/mod note and parse with transparency-dev/formats', async () => {
    const origin = 'stella.example/tlog/tenant-a';
    const k = generateNoteKey(origin, randomBytes(32));
    const signer = parseSignerKey(k.skey);
    const witness = parseSignerKey(generateNoteKey('witness.example/w1', randomBytes(32)).skey);
    const root = leafHash('root');
    const note = await signCheckpoint({ origin, size: 123456, rootHash: root, extensions: ['stella-ext a'] }, [
      signer,
      witness,
    ]);
    const f = join(tmp.path, 'cp.note');
    await writeFile(f, note);
    const n = await go(['note', '-vkey', k.vkey, '-in', f]);
    assert.equal(n.code, 0, JSON.stringify(n.json));
    assert.deepEqual(n.json.sigs, [{ name: origin, hash: signer.keyId }]);
    assert.deepEqual(n.json.unverifiedSigs, [{ name: 'witness.example/w1', hash: witness.keyId }]);
    const c = await go(['checkpoint', '-vkey', k.vkey, '-origin', origin, '-in', f]);
    assert.equal(c.code, 0, JSON.stringify(c.json));
    assert.equal(c.json.origin, origin);
    assert.equal(c.json.size, 123456);
    assert.equal(c.json.hash, Buffer.from(root).toString('base64'));
    assert.equal(c.json.rest, 'stella-ext a\n');
    // Go rejects what we reject: a tampered body, an unknown key, the wrong origin.
    await writeFile(f, note.replace('123456', '123457'));
    assert.equal((await go(['note', '-vkey', k.vkey, '-in', f])).code, 1);
    await writeFile(f, note);
    const stranger = generateNoteKey(origin, randomBytes(32)).vkey;
    const u = await go(['note', '-vkey', stranger, '-in', f]);
    assert.equal(u.code, 1);
    assert.equal(u.json.kind, 'unverified');
    assert.equal((await go(['checkpoint', '-vkey', k.vkey, '-origin', 'other', '-in', f])).code, 1);
    // Go signs with our signer key string; Ed25519 is deterministic, so the notes are identical,
    // and our verifier opens Go's note.
    const text = join(tmp.path, 'cp.txt');
    await writeFile(text, `${origin}\n7\n${Buffer.from(root).toString('base64')}\n`);
    const s = await go(['sign', '-skey', k.skey, '-in', text]);
    assert.equal(s.code, 0, JSON.stringify(s.json));
    const goNote = s.json.note as string;
    assert.equal(goNote, await signNote(`${origin}\n7\n${Buffer.from(root).toString('base64')}\n`, [signer]));
    assert.equal(openCheckpoint(goNote, { origin, verifiers: [parseVerifierKey(k.vkey)] }).size, 7);
    assert.equal(openNote(goNote, [parseVerifierKey(k.vkey)]).verified.length, 1);
  });

  test('tiles: x/mod tlog authenticates and recomputes every tile; transparency-dev/merkle verifies our proofs', async () => {
    const dir = join(tmp.path, 'log');
    const store = new DirStore(dir);
    const app = TileAppender.empty();
    const entries = (from: number, k: number) =>
      Array.from({ length: k }, (_, i) => new TextEncoder().encode(`{"entry":${from + i}}`));
    const checkpoints: { size: number; root: Uint8Array }[] = [];
    let n = 0;
    for (const k of [1, 254, 1, 1, 700, 64580, 4463]) {
      const r = app.append(entries(n, k));
      n += k;
      await store.put(r.blobs);
      checkpoints.push({ size: n, root: r.rootHash });
    }
    assert.equal(n, 70000);
    // Every checkpoint size: x/mod reads our tiles through its authenticating TileHashReader,
    // recomputes every tile from our entry bundles, and the compact-range root must match.
    for (const c of checkpoints) {
      const t = await go([
        'tiles',
        '-dir',
        dir,
        '-size',
        String(c.size),
        '-root',
        Buffer.from(c.root).toString('base64'),
      ]);
      assert.equal(t.code, 0, `size ${c.size}: ${JSON.stringify(t.json)}`);
      assert.equal(t.json.entries, c.size);
    }
    // Proofs from our tiles, verified by transparency-dev/merkle.
    const tree = new TileTree(store, n);
    const inclusion = [];
    for (const i of [0, 1, 255, 256, 65535, 65536, 69999, 12345]) {
      const p = await tree.inclusionProof(i);
      inclusion.push({
        index: i,
        size: n,
        leafHash: hex(await tree.leafHash(i)),
        proof: p.hashes.map(hex),
        root: hex(checkpoints.at(-1)!.root),
      });
    }
    const consistency = [];
    for (const a of checkpoints)
      for (const b of checkpoints)
        if (a.size <= b.size) {
          const p = await tree.consistencyProof(a.size, b.size);
          consistency.push({
            size1: a.size,
            size2: b.size,
            proof: p.hashes.map(hex),
            root1: hex(a.root),
            root2: hex(b.root),
          });
        }
    // Corrupted copies must fail in Go as well.
    const badIncl = inclusion.map((x) => ({ ...x, index: x.index === 0 ? 1 : x.index - 1 }));
    const badCons = consistency
      .filter((x) => x.proof.length > 0)
      .map((x) => ({ ...x, proof: [x.proof[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0')), ...x.proof.slice(1)] }));
    const f = join(tmp.path, 'proofs.json');
    await writeFile(
      f,
      JSON.stringify({ inclusion: [...inclusion, ...badIncl], consistency: [...consistency, ...badCons] }),
    );
    const r = await go(['proofs', '-in', f]);
    assert.equal(r.code, 0);
    const ri = r.json.inclusion as string[];
    const rc = r.json.consistency as string[];
    assert.deepEqual(
      ri.slice(0, inclusion.length),
      inclusion.map(() => ''),
    );
    assert.ok(
      ri.slice(inclusion.length).every((e) => e !== ''),
      'Go accepted a proof for the wrong index',
    );
    assert.deepEqual(
      rc.slice(0, consistency.length),
      consistency.map(() => ''),
    );
    assert.ok(
      rc.slice(consistency.length).every((e) => e !== ''),
      'Go accepted a corrupted consistency proof',
    );
    assert.equal(consistency.length, 28);
    // A flipped byte in a copy of the tiles: x/mod refuses it.
    const bad = join(tmp.path, 'log-flipped');
    await copyDir(dir, bad, { recursive: true });
    const victim = join(bad, 'tile/0/005');
    const bytes = await readFile(victim);
    bytes[77]! ^= 0x01;
    await writeFile(victim, bytes);
    const t = await go([
      'tiles',
      '-dir',
      bad,
      '-size',
      String(n),
      '-root',
      Buffer.from(checkpoints.at(-1)!.root).toString('base64'),
    ]);
    assert.equal(t.code, 1);
    assert.match(String(t.json.kind), /tile-mismatch|tree-hash|prove-record/);
  });
});
