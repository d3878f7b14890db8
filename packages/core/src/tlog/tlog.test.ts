// Log core: C2SP tile paths and shapes, the incremental appender against the in-memory RFC 9162
// reference (merkle module), proofs from lazily read tiles, signed notes and checkpoints, and the
// coded errors for bad input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { assertRejectsStella, assertStellaError } from '@stella/testkit';
import { StellaError } from '@stella/core/errors';
import {
  MerkleTreeBuilder,
  consistencyProof,
  inclusionProof,
  leafHash,
  verifyConsistency,
  verifyInclusion,
} from '@stella/core/merkle';
import { createKeySigner } from '@stella/core/signing';
import {
  TILE_WIDTH,
  TileAppender,
  TileTree,
  decodeEntryBundle,
  encodeEntryBundle,
  encodeTileIndex,
  formatCheckpoint,
  formatVerifierKey,
  generateNoteKey,
  newTiles,
  noteSignerFromSigner,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseTilePath,
  parseVerifierKey,
  partialTiles,
  provenInclusion,
  signCheckpoint,
  signNote,
  tilePath,
  verifyCheckpointConsistency,
  verifyInclusionInCheckpoint,
  type TileId,
  type TileReader,
} from '@stella/core/tlog';

/** An in-memory tile store keyed by C2SP path. */
class MapStore implements TileReader {
  readonly blobs = new Map<string, Uint8Array>();
  reads = 0;
  readTile(t: TileId): Promise<Uint8Array> {
    this.reads++;
    const b = this.blobs.get(tilePath(t));
    if (!b) return Promise.reject(new StellaError('TLOG_TILE_MISSING', `no ${tilePath(t)}`));
    return Promise.resolve(b);
  }
  put(blobs: { path: string; data: Uint8Array }[]): void {
    for (const b of blobs) {
      const old = this.blobs.get(b.path);
      if (old) assert.deepEqual(old, b.data, `immutable ${b.path} rewritten with other bytes`);
      this.blobs.set(b.path, b.data);
    }
  }
}

const entryOf = (i: number) => new TextEncoder().encode(`entry ${i}`);

describe('tile paths', () => {
  test('C2SP examples and round trips', () => {
    assert.equal(encodeTileIndex(1234067), 'x001/x234/067');
    assert.equal(encodeTileIndex(0), '000');
    assert.equal(encodeTileIndex(999), '999');
    assert.equal(encodeTileIndex(1000), 'x001/000');
    assert.equal(tilePath({ level: 0, index: 1234067, width: 256 }), 'tile/0/x001/x234/067');
    assert.equal(tilePath({ level: 2, index: 5, width: 17 }), 'tile/2/005.p/17');
    assert.equal(tilePath({ level: 'entries', index: 1000, width: 1 }), 'tile/entries/x001/000.p/1');
    for (const p of [
      'tile/0/x001/x234/067',
      'tile/2/005.p/17',
      'tile/entries/x001/000.p/1',
      'tile/63/000',
      'tile/entries/123',
    ])
      assert.equal(tilePath(parseTilePath(p)), p);
    assert.deepEqual(parseTilePath('tile/1/x002/003.p/255'), { level: 1, index: 2003, width: 255 });
  });
  test('malformed paths are TLOG_PATH_INVALID', () => {
    for (const p of [
      'tile/00/000',
      'tile/64/000',
      'tile/0/00',
      'tile/0/0000',
      'tile/0/x000/001',
      'tile/0/001/002',
      'tile/0/x001',
      'tile/0/001.p/0',
      'tile/0/001.p/256',
      'tile/0/001.p/07',
      'tile/data/001',
      'tiles/0/001',
      'tile/0/-01',
      'tile/0',
    ])
      assertStellaError(() => parseTilePath(p), 'TLOG_PATH_INVALID');
    assertStellaError(() => tilePath({ level: 0, index: 1, width: 0 }), 'TLOG_PATH_INVALID');
    assertStellaError(() => tilePath({ level: 64, index: 1, width: 3 }), 'TLOG_PATH_INVALID');
  });
  test('the tiles of a tree size (C2SP: 70,000 and 256)', () => {
    const all = newTiles(0, 70000).filter((t) => t.level !== 'entries');
    const l0 = all.filter((t) => t.level === 0);
    assert.equal(l0.filter((t) => t.width === 256).length, 273);
    assert.deepEqual(
      l0.filter((t) => t.width < 256),
      [{ level: 0, index: 273, width: 112 }],
    );
    assert.deepEqual(
      all.filter((t) => t.level === 1),
      [
        { level: 1, index: 0, width: 256 },
        { level: 1, index: 1, width: 17 },
      ],
    );
    assert.deepEqual(
      all.filter((t) => t.level === 2),
      [{ level: 2, index: 0, width: 1 }],
    );
    assert.deepEqual(partialTiles(256), [{ level: 1, index: 0, width: 1 }]);
    assert.deepEqual(newTiles(0, 256), [
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
      { level: 'entries', index: 0, width: 256 },
    ]);
  });
});

describe('entry bundles', () => {
  test('uint16 length prefixes, strict decoding', () => {
    const e = [Uint8Array.of(1), new Uint8Array(300).fill(7), new Uint8Array(65535).fill(9)];
    const b = encodeEntryBundle(e);
    assert.equal(b.length, 3 + 302 + 65537);
    assert.deepEqual(b.subarray(0, 3), Uint8Array.of(0, 1, 1));
    assert.deepEqual(b.subarray(3, 5), Uint8Array.of(1, 44));
    assert.deepEqual(
      decodeEntryBundle(b, 3).map((x) => x.length),
      [1, 300, 65535],
    );
    assertStellaError(() => decodeEntryBundle(b.subarray(0, b.length - 1)), 'TLOG_ENTRY_INVALID');
    assertStellaError(() => decodeEntryBundle(Uint8Array.of(0)), 'TLOG_ENTRY_INVALID');
    assertStellaError(() => decodeEntryBundle(Uint8Array.of(0, 0)), 'TLOG_ENTRY_INVALID');
    assertStellaError(() => decodeEntryBundle(b, 2), 'TLOG_TILE_MISMATCH');
    assertStellaError(() => encodeEntryBundle([new Uint8Array(65536)]), 'TLOG_ENTRY_INVALID');
    assertStellaError(() => encodeEntryBundle([new Uint8Array(0)]), 'TLOG_ENTRY_INVALID');
  });
});

describe('incremental tiles and proofs from tiles', () => {
  test('appender matches the RFC 9162 reference at every batch; proofs from tiles equal the reference', async () => {
    const store = new MapStore();
    let app = TileAppender.empty();
    const ref = new MerkleTreeBuilder();
    const leaves: Uint8Array[] = [];
    let n = 0;
    const batches = [1, 1, 3, 250, 1, 256, 255, 1, 512, 700, 66000 - 1980, 1, 2000];
    let prev = 0;
    const roots = new Map<number, Uint8Array>();
    for (const [bi, k] of batches.entries()) {
      const entries = Array.from({ length: k }, () => entryOf(n++));
      const r = app.append(entries);
      for (const e of entries) {
        ref.pushData(e);
        leaves.push(leafHash(e));
      }
      assert.equal(r.size, n);
      assert.deepEqual(r.rootHash, ref.root(), `root after batch ${bi}`);
      assert.deepEqual(
        new Set(r.blobs.map((b) => b.path)),
        new Set(newTiles(prev, n).map(tilePath)),
        `tiles of batch ${bi}`,
      );
      store.put(r.blobs);
      // Reopen from storage every few batches (what a restarted sequencer does).
      if (bi % 3 === 2) app = await TileAppender.open(store, n, r.rootHash);
      const tree = new TileTree(store, n);
      assert.deepEqual(await tree.root(), r.rootHash);
      for (const i of [0, n - 1, Math.floor(n / 2), Math.floor(Math.random() * n)]) {
        const p = await tree.inclusionProof(i);
        assert.deepEqual(p.hashes, inclusionProof(leaves, i, n), `inclusion ${i}/${n}`);
        verifyInclusion(leaves[i]!, i, n, p.hashes, r.rootHash);
      }
      if (prev > 0) {
        const c = await tree.consistencyProof(prev);
        assert.deepEqual(c.hashes, consistencyProof(leaves, prev, n), `consistency ${prev}→${n}`);
        verifyConsistency(prev, n, c.hashes, roots.get(prev)!, r.rootHash);
      }
      assert.deepEqual(await tree.entry(n - 1), entries[entries.length - 1]);
      roots.set(n, r.rootHash);
      prev = n;
    }
    // Arbitrary historical sizes are provable from the tiles of the latest size.
    const tree = new TileTree(store, n);
    for (const [a, b] of [
      [1, 2],
      [7, 300],
      [256, 65536],
      [65535, 65537],
      [1000, n],
    ] as const) {
      const c = await tree.consistencyProof(a, b);
      assert.deepEqual(c.hashes, consistencyProof(leaves, a, b));
    }
  });

  test('at 1,000,000 entries a proof reads O(log n) tiles', async () => {
    const store = new MapStore();
    const app = TileAppender.empty();
    const N = 1_000_000;
    const batch = 50_000;
    let root: Uint8Array = new Uint8Array();
    for (let i = 0; i < N; i += batch) {
      const r = app.append(Array.from({ length: batch }, (_, j) => entryOf(i + j)));
      store.put(r.blobs);
      root = r.rootHash;
    }
    const tree = new TileTree(store, N);
    const p = await provenInclusion(tree, 123_457, { size: N, rootHash: root });
    assert.equal(p.hashes.length, 20);
    assert.ok(tree.tilesRead <= 8, `inclusion read ${tree.tilesRead} tiles`);
    const tree2 = new TileTree(store, N);
    const c = await tree2.consistencyProof(654_321);
    verifyConsistency(654_321, N, c.hashes, await new TileTree(store, 654_321).root(), root);
    assert.ok(tree2.tilesRead <= 12, `consistency read ${tree2.tilesRead} tiles`);
  });

  test('a flipped byte or a missing tile is a coded error, never a wrong proof', async () => {
    const store = new MapStore();
    const app = TileAppender.empty();
    const r = app.append(Array.from({ length: 600 }, (_, i) => entryOf(i)));
    store.put(r.blobs);
    const cp = { size: 600, rootHash: r.rootHash };
    const good = await provenInclusion(new TileTree(store, 600), 5, cp);
    verifyInclusionInCheckpoint(leafHash(entryOf(5)), good, cp);
    // Flip one byte of the first level-0 tile (leaf hash 3, inside a sibling on the path of entry 5).
    const path = 'tile/0/000';
    const orig = store.blobs.get(path)!;
    const flipped = Uint8Array.from(orig);
    flipped[100]! ^= 1;
    store.blobs.set(path, flipped);
    await assertRejectsStella(provenInclusion(new TileTree(store, 600), 5, cp), 'TLOG_TILE_MISMATCH');
    await assertRejectsStella(new TileTree(store, 600).verifyTile({ level: 0, index: 0 }, cp), 'TLOG_TILE_MISMATCH');
    // Entry 300's proof does not use that tile (its sibling [0, 256) comes from level 1): still valid.
    await provenInclusion(new TileTree(store, 600), 300, cp);
    await new TileTree(store, 600).verifyTile({ level: 0, index: 1 }, cp);
    await assertRejectsStella(new TileTree(store, 600).entry(3), 'TLOG_TILE_MISMATCH');
    store.blobs.set(path, orig);
    // A flipped entry bundle byte.
    const bpath = 'tile/entries/002.p/88';
    const b = Uint8Array.from(store.blobs.get(bpath)!);
    b[5]! ^= 0x20;
    store.blobs.set(bpath, b);
    await assertRejectsStella(new TileTree(store, 600).entry(513), 'TLOG_TILE_MISMATCH');
    await assertRejectsStella(TileAppender.open(store, 600, r.rootHash), 'TLOG_TILE_MISMATCH');
    // A truncated tile.
    store.blobs.set('tile/0/002.p/88', store.blobs.get('tile/0/002.p/88')!.subarray(0, 100));
    await assertRejectsStella(new TileTree(store, 600).root(), 'TLOG_TILE_MISMATCH');
    await assertRejectsStella(new TileTree(store, 600).verifyAgainst(cp), 'TLOG_TILE_MISMATCH');
    // Missing tiles.
    store.blobs.delete('tile/0/002.p/88');
    await assertRejectsStella(new TileTree(store, 600).root(), 'TLOG_TILE_MISSING');
    await assertRejectsStella(TileAppender.open(store, 600, r.rootHash), 'TLOG_TILE_MISSING');
    // A wrong root for the appender is a mismatch too.
    const s2 = new MapStore();
    const a2 = TileAppender.empty();
    s2.put(a2.append([entryOf(1), entryOf(2)]).blobs);
    await assertRejectsStella(TileAppender.open(s2, 2, new Uint8Array(32)), 'TLOG_TILE_MISMATCH');
    // Entries of the wrong size are refused before anything changes.
    const a3 = TileAppender.empty();
    assertStellaError(() => a3.append([entryOf(1), new Uint8Array(0)]), 'TLOG_ENTRY_INVALID');
    assert.equal(a3.size, 0);
  });

  test('a missing partial tile falls back to the full tile (C2SP)', async () => {
    const store = new MapStore();
    const app = TileAppender.empty();
    const r1 = app.append(Array.from({ length: 100 }, (_, i) => entryOf(i)));
    store.put(r1.blobs);
    store.put(app.append(Array.from({ length: 200 }, (_, i) => entryOf(100 + i))).blobs);
    store.blobs.delete('tile/0/000.p/100');
    assert.deepEqual(await new TileTree(store, 100).root(), r1.rootHash);
  });
});

describe('signed notes (c2sp.org/signed-note)', () => {
  test('the C2SP example verifies', () => {
    const v = parseVerifierKey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
    const note =
      'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
    const o = openNote(note, [v]);
    assert.equal(o.text, 'This is an example message.\n');
    assert.equal(o.verified.length, 1);
    assert.equal(o.verified[0]!.keyId, 0x530d903a);
  });

  test('sign and open; unknown keys ignored, none known → TLOG_UNKNOWN_KEY; forged → TLOG_BAD_SIGNATURE', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const signer = noteSignerFromSigner('log.example/a', createKeySigner(privateKey));
    const other = parseSignerKey(generateNoteKey('witness.example/w', randomBytes(32)).skey);
    const vA = parseVerifierKey(formatVerifierKey('log.example/a', publicKey));
    const vW = parseVerifierKey(other.vkey);
    const note = await signNote('hello\n\nworld\n', [signer, other]);
    const o = openNote(note, [vA]);
    assert.equal(o.text, 'hello\n\nworld\n');
    assert.equal(o.verified.length, 1);
    assert.equal(o.unverified.length, 1);
    assert.equal(openNote(note, [vA, vW]).verified.length, 2);
    assertStellaError(() => openNote(note, []), 'TLOG_UNKNOWN_KEY');
    assertStellaError(() => openNote(note.replace('world', 'World'), [vA]), 'TLOG_BAD_SIGNATURE');
    // Same name, other key ID: ignored (not ours) → unknown.
    const lines = note.split('\n');
    assertStellaError(() => openNote(`hello\n\nworld\n\n${lines[lines.length - 2]}\n`, [vA]), 'TLOG_UNKNOWN_KEY');
  });

  test('malformed notes and keys are coded', () => {
    const sig = '— a AAAAAAA=\n';
    for (const bad of [
      'text\n' + sig, // no blank line
      'text\n\n', // no signatures
      'text\n\n— a AAAAAAA=', // no final newline
      'text\n\n- a AAAAAAA=\n', // hyphen, not em dash
      'text\n\n— a+b AAAAAAA=\n', // plus in name
      'text\n\n— a AAAA\n', // shorter than key ID + signature
      'text\n\n— a AAAAAAA\n', // unpadded
      'te\txt\n\n' + sig, // control character
      'text\r\n\n' + sig,
      'text\n\n— a  AAAAAAA=\n',
    ])
      assertStellaError(() => parseNote(bad), 'TLOG_NOTE_MALFORMED');
    assertStellaError(() => parseNote(Uint8Array.of(0xff, 0x0a, 0x0a)), 'TLOG_NOTE_MALFORMED');
    for (const k of [
      'example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', // wrong id
      'example.com/foo+530d903a+AikyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', // other type
      'example.com/foo+530d903a',
      'example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k',
      'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U',
    ])
      assertStellaError(() => parseVerifierKey(k), 'TLOG_KEY_INVALID');
  });
});

describe('checkpoints (c2sp.org/tlog-checkpoint)', () => {
  const root = leafHash('x');
  test('format/parse round trip with extension lines; strict parsing', () => {
    const text = formatCheckpoint({
      origin: 'stella.example/log/t1',
      size: 42,
      rootHash: root,
      extensions: ['ext one'],
    });
    assert.equal(text, `stella.example/log/t1\n42\n${Buffer.from(root).toString('base64')}\next one\n`);
    assert.deepEqual(parseCheckpoint(text), {
      origin: 'stella.example/log/t1',
      size: 42,
      rootHash: root,
      extensions: ['ext one'],
    });
    const b64 = Buffer.from(root).toString('base64');
    for (const bad of [
      `o\n42\n${b64}`,
      `o\n42\n`,
      `\n42\n${b64}\n`,
      `o\n042\n${b64}\n`,
      `o\n-1\n${b64}\n`,
      `o\n1e3\n${b64}\n`,
      `o\n99999999999999999999\n${b64}\n`,
      `o\n42\n${b64.slice(0, -4)}\n`,
      `o\n42\n${Buffer.from(root).toString('base64url')}\n`,
      `o\n42\n${b64}\n\n`,
      `o\n42\n${b64}\next\n\n`,
    ])
      assertStellaError(() => parseCheckpoint(bad), 'TLOG_CHECKPOINT_MALFORMED');
  });

  test('signed checkpoints: origin, keys, rollback, wrong-size consistency proofs', async () => {
    const k = generateNoteKey('stella.example/log/t1', randomBytes(32));
    const signer = parseSignerKey(k.skey);
    const v = parseVerifierKey(k.vkey);
    const store = new MapStore();
    const app = TileAppender.empty();
    const r1 = app.append(Array.from({ length: 10 }, (_, i) => entryOf(i)));
    store.put(r1.blobs);
    const r2 = app.append(Array.from({ length: 300 }, (_, i) => entryOf(10 + i)));
    store.put(r2.blobs);
    const n1 = await signCheckpoint(
      { origin: 'stella.example/log/t1', size: 10, rootHash: r1.rootHash, extensions: [] },
      [signer],
    );
    const n2 = await signCheckpoint(
      { origin: 'stella.example/log/t1', size: 310, rootHash: r2.rootHash, extensions: [] },
      [signer],
    );
    const c1 = openCheckpoint(n1, { origin: 'stella.example/log/t1', verifiers: [v] });
    const c2 = openCheckpoint(n2, { origin: 'stella.example/log/t1', verifiers: [v] });
    assert.equal(c2.size, 310);
    assertStellaError(() => openCheckpoint(n1, { origin: 'other', verifiers: [v] }), 'TLOG_ORIGIN_MISMATCH');
    const stranger = parseVerifierKey(generateNoteKey('stella.example/log/t1', randomBytes(32)).vkey);
    assertStellaError(
      () => openCheckpoint(n1, { origin: 'stella.example/log/t1', verifiers: [stranger] }),
      'TLOG_UNKNOWN_KEY',
    );
    assertStellaError(
      () => openCheckpoint(n1.replace('\n10\n', '\n11\n'), { origin: 'stella.example/log/t1', verifiers: [v] }),
      'TLOG_BAD_SIGNATURE',
    );
    const tree = new TileTree(store, 310);
    const proof = await tree.consistencyProof(10);
    verifyCheckpointConsistency(c1, c2, proof);
    verifyCheckpointConsistency(c1, c1, { oldSize: 10, newSize: 10, hashes: [] });
    assertStellaError(() => verifyCheckpointConsistency(c2, c1, proof), 'TLOG_ROLLBACK');
    assertStellaError(
      () => verifyCheckpointConsistency(c1, c2, { ...proof, oldSize: 11 }),
      'TLOG_CONSISTENCY_SIZE_MISMATCH',
    );
    // A genuine proof for other sizes, relabelled as 10 → 310.
    const other = await tree.consistencyProof(8, 310);
    assertStellaError(
      () => verifyCheckpointConsistency(c1, c2, { oldSize: 10, newSize: 310, hashes: other.hashes }),
      other.hashes.length === proof.hashes.length ? 'MERKLE_PROOF_INVALID' : 'TLOG_CONSISTENCY_SIZE_MISMATCH',
    );
    // A forked tree of the same size.
    const forked = { ...c2, rootHash: leafHash('fork') };
    assertStellaError(() => verifyCheckpointConsistency(c1, forked, proof), 'MERKLE_PROOF_INVALID');
    assertStellaError(
      () => verifyCheckpointConsistency(c2, forked, { oldSize: 310, newSize: 310, hashes: [] }),
      'MERKLE_PROOF_INVALID',
    );
    const incl = await tree.inclusionProof(3, 10);
    verifyInclusionInCheckpoint(leafHash(entryOf(3)), incl, c1);
    assertStellaError(
      () => verifyInclusionInCheckpoint(leafHash(entryOf(3)), incl, c2),
      'TLOG_CONSISTENCY_SIZE_MISMATCH',
    );
    assertStellaError(() => verifyInclusionInCheckpoint(leafHash(entryOf(4)), incl, c1), 'MERKLE_PROOF_INVALID');
    assert.equal(TILE_WIDTH, 256);
  });
});
