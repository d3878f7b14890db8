// Property tests against a naive recursive RFC 9162 implementation written straight from the
// definitions (§2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 PROOF). Published transparency-dev vectors are in
// merkle-vectors.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { isStellaError } from '@stella/core/errors';
import { assertStellaError } from '@stella/testkit';
import {
  LeafHasher,
  MerkleTreeBuilder,
  consistencyProof,
  consistencyProofLength,
  inclusionProof,
  inclusionProofLength,
  inclusionProofToJson,
  leafHash,
  leafHashStream,
  merkleRoot,
  nodeHash,
  parseConsistencyProofJson,
  parseInclusionProofJson,
  consistencyProofToJson,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '@stella/core/merkle';

// ---- naive reference --------------------------------------------------------------------------
const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const k = (n: number) => 2 ** Math.floor(Math.log2(n - 1)); // largest power of two < n (n ≥ 2)
function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Uint8Array.of(0), d[0]!);
  const s = k(d.length);
  return sha(Uint8Array.of(1), mth(d.slice(0, s)), mth(d.slice(s)));
}
function path(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const s = k(d.length);
  return m < s ? [...path(m, d.slice(0, s)), mth(d.slice(s))] : [...path(m - s, d.slice(s)), mth(d.slice(0, s))];
}
function subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s
    ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))]
    : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}
const data = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`leaf-${seed}-${i}`));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hexes = (a: Uint8Array[]) => a.map(hex);

describe('Merkle properties vs naive reference', () => {
  test('roots: builder (every prefix) and merkleRoot equal naive MTH for sizes 0…300', () => {
    const leaves = data(300, 1);
    const hashes = leaves.map((l) => leafHash(l));
    const b = new MerkleTreeBuilder();
    for (let n = 0; n <= 300; n++) {
      const want = hex(mth(leaves.slice(0, n)));
      assert.equal(hex(b.root()), want, `builder n=${n}`);
      if (n % 37 === 0 || n < 20) assert.equal(hex(merkleRoot(hashes.slice(0, n))), want, `merkleRoot n=${n}`);
      if (n < 300) b.push(hashes[n]!);
    }
  });

  test('property: inclusion proofs for every index of random sizes equal naive PATH and verify', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (n, seed) => {
        const leaves = data(n, seed);
        const hashes = leaves.map((l) => leafHash(l));
        const root = mth(leaves);
        for (let i = 0; i < n; i++) {
          const p = inclusionProof(hashes, i);
          if (n <= 64 || i % 7 === 0) assert.deepEqual(hexes(p), hexes(path(i, leaves)), `n=${n} i=${i}`);
          assert.equal(p.length, inclusionProofLength(i, n));
          verifyInclusion(hashes[i]!, i, n, p, root);
          // A proof for leaf i never proves a different leaf at i, nor leaf i at another index.
          if (n > 1) {
            assertStellaError(() => verifyInclusion(hashes[(i + 1) % n]!, i, n, p, root), 'MERKLE_PROOF_INVALID');
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  test('consistency proofs for all size pairs n ≤ 40 equal naive PROOF and verify', () => {
    const leaves = data(40, 7);
    const hashes = leaves.map((l) => leafHash(l));
    const roots = Array.from({ length: 41 }, (_, n) => mth(leaves.slice(0, n)));
    for (let n = 1; n <= 40; n++) {
      for (let m = 1; m <= n; m++) {
        const p = consistencyProof(hashes, m, n);
        assert.deepEqual(hexes(p), hexes(m === n ? [] : subproof(m, leaves.slice(0, n), true)), `${m}→${n}`);
        assert.equal(p.length, consistencyProofLength(m, n));
        verifyConsistency(m, n, p, roots[m]!, roots[n]!);
        if (m < n) {
          assertStellaError(() => verifyConsistency(m, n, p, roots[m]!, roots[n - 1]!), 'MERKLE_PROOF_INVALID');
          if (p.length > 0) {
            const bad = p.map((x, j) => (j === p.length - 1 ? sha(x) : x));
            assertStellaError(() => verifyConsistency(m, n, bad, roots[m]!, roots[n]!), 'MERKLE_PROOF_INVALID');
          }
        }
      }
    }
  });

  test('property: consistency for random size pairs up to 300', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.nat(), (a, b, seed) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const leaves = data(n, seed);
        const hashes = leaves.map((l) => leafHash(l));
        const p = consistencyProof(hashes, m, n);
        assert.deepEqual(hexes(p), hexes(m === n ? [] : subproof(m, leaves, true)));
        verifyConsistency(m, n, p, mth(leaves.slice(0, m)), mth(leaves));
      }),
      { numRuns: 60 },
    );
  });

  test('property: any single-bit change in a proof or root is rejected with a coded error', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 200 }), fc.nat(), fc.nat(), fc.nat(), (n, seed, iRaw, bit) => {
        const hashes = data(n, seed).map((l) => leafHash(l));
        const i = iRaw % n;
        const p = inclusionProof(hashes, i);
        const root = merkleRoot(hashes);
        const which = bit % (p.length + 1);
        const flipped = (x: Uint8Array) =>
          Uint8Array.from(x, (v, j) => (j === (bit >> 3) % 32 ? v ^ (1 << (bit & 7)) : v));
        if (which === p.length)
          assertStellaError(() => verifyInclusion(hashes[i]!, i, n, p, flipped(root)), 'MERKLE_PROOF_INVALID');
        else
          assertStellaError(
            () =>
              verifyInclusion(
                hashes[i]!,
                i,
                n,
                p.map((x, j) => (j === which ? flipped(x) : x)),
                root,
              ),
            'MERKLE_PROOF_INVALID',
          );
      }),
      { numRuns: 300 },
    );
  });
});

describe('Merkle input errors', () => {
  const hashes = data(5, 0).map((l) => leafHash(l));
  test('out-of-range indices, empty trees and size mismatches are coded', () => {
    assertStellaError(() => inclusionProof(hashes, 5), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => inclusionProof(hashes, -1), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => inclusionProof(hashes, 1.5), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => inclusionProof(hashes, 0, 6), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => inclusionProof([], 0), 'MERKLE_EMPTY_TREE');
    assertStellaError(() => consistencyProof(hashes, 0, 5), 'MERKLE_EMPTY_TREE');
    assertStellaError(() => consistencyProof(hashes, 4, 3), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => consistencyProof(hashes, 1, 6), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => merkleRoot([hashes[0]!, new Uint8Array(31)]), 'MERKLE_PROOF_MALFORMED');
    assertStellaError(() => new MerkleTreeBuilder().push(new Uint8Array(33)), 'MERKLE_PROOF_MALFORMED');
    const p = inclusionProof(hashes, 2);
    const root = merkleRoot(hashes);
    assertStellaError(() => verifyInclusion(hashes[2]!, 5, 5, p, root), 'MERKLE_INDEX_OUT_OF_RANGE');
    assertStellaError(() => verifyInclusion(hashes[2]!, 0, 0, [], root), 'MERKLE_EMPTY_TREE');
    // A proof for another tree size has the wrong length (or, if the length matches, the wrong root).
    assertStellaError(() => verifyInclusion(hashes[2]!, 2, 9, p, root), 'MERKLE_PROOF_MALFORMED');
    // Same length (size 6): the proof does not lead to the size-6 root. Note that RFC 9162 does not
    // bind the size into the hash — (2, 5)'s proof also "verifies" as (2, 6) against the *size-5*
    // root — so the size must come from a trusted source (signed manifest leafCount, tree head).
    const root6 = merkleRoot([...hashes, leafHash('six')]);
    assertStellaError(() => verifyInclusion(hashes[2]!, 2, 6, p, root6), 'MERKLE_PROOF_INVALID');
    assertStellaError(
      () => verifyInclusion(hashes[2]!, 2, Number.MAX_SAFE_INTEGER + 1, p, root),
      'MERKLE_PROOF_MALFORMED',
    );
    assertStellaError(
      () => rootFromInclusionProof(hashes[2]!, 2, 5, [...p.slice(0, -1), new Uint8Array(3)]),
      'MERKLE_PROOF_MALFORMED',
    );
  });

  test('large tree sizes beyond 2^32 use exact arithmetic', () => {
    // Index 2^33+5 of size 2^34: the proof is 34 hashes; a consistent fake path verifies against the root it implies.
    const size = 2 ** 34;
    const index = 2 ** 33 + 5;
    assert.equal(inclusionProofLength(index, size), 34);
    const fake = Array.from({ length: 34 }, (_, i) => sha(Uint8Array.of(i)));
    const root = rootFromInclusionProof(hashes[0]!, index, size, fake);
    verifyInclusion(hashes[0]!, index, size, fake, root);
    assertStellaError(() => verifyInclusion(hashes[0]!, index + 1, size, fake, root), 'MERKLE_PROOF_INVALID');
  });

  test('LeafHasher / leafHashStream equal leafHash on the concatenation; nodeHash is H(0x01‖l‖r)', async () => {
    const parts = [Buffer.from('ab'), Buffer.from(''), Buffer.from('cd')];
    const want = hex(leafHash(Buffer.concat(parts)));
    const lh = new LeafHasher();
    for (const p of parts) lh.update(p);
    assert.equal(hex(lh.digest()), want);
    assert.equal(hex(await leafHashStream(Readable.from(parts))), want);
    assert.equal(hex(nodeHash(hashes[0]!, hashes[1]!)), hex(sha(Uint8Array.of(1), hashes[0]!, hashes[1]!)));
  });
});

describe('proof JSON', () => {
  const hashes = data(6, 9).map((l) => leafHash(l));
  const root = merkleRoot(hashes);
  const good = inclusionProofToJson({
    treeSize: 6,
    leafIndex: 4,
    leafHash: hashes[4]!,
    auditPath: inclusionProof(hashes, 4),
    root,
  });

  test('round-trips and verifies', () => {
    const p = parseInclusionProofJson(JSON.parse(JSON.stringify(good)));
    verifyInclusion(p.leafHash, p.leafIndex, p.treeSize, p.auditPath, p.root);
    assert.deepEqual(inclusionProofToJson(p), good);
    const c = consistencyProofToJson({
      size1: 3,
      size2: 6,
      root1: merkleRoot(hashes.slice(0, 3)),
      root2: root,
      consistencyPath: consistencyProof(hashes, 3),
    });
    const pc = parseConsistencyProofJson(JSON.parse(JSON.stringify(c)));
    verifyConsistency(pc.size1, pc.size2, pc.consistencyPath, pc.root1, pc.root2);
  });

  test('malformed proof JSON is rejected with coded errors', () => {
    const cases: [unknown, string][] = [
      [null, 'MERKLE_PROOF_MALFORMED'],
      [[], 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, algorithm: 'rfc6962-sha1' }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, extra: 1 }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, root: undefined }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, treeSize: '6' }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, leafIndex: -1 }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, leafIndex: 6 }, 'MERKLE_INDEX_OUT_OF_RANGE'],
      [{ ...good, treeSize: 0, leafIndex: 0 }, 'MERKLE_EMPTY_TREE'],
      [{ ...good, treeSize: 9 }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, auditPath: good.auditPath.slice(1) }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, auditPath: 'x' }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, leafHash: good.leafHash.toUpperCase() }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, root: good.root.slice(2) }, 'MERKLE_PROOF_MALFORMED'],
      [{ ...good, auditPath: [...good.auditPath.slice(1), 42] }, 'MERKLE_PROOF_MALFORMED'],
    ];
    for (const [v, c] of cases) assertStellaError(() => parseInclusionProofJson(v), c);
  });

  test('property (fuzz): arbitrary objects never crash the parser', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            algorithm: fc.constant('rfc9162-sha256'),
            treeSize: fc.anything(),
            leafIndex: fc.anything(),
            leafHash: fc.anything(),
            auditPath: fc.anything(),
            root: fc.anything(),
          }),
        ),
        (v) => {
          try {
            parseInclusionProofJson(v);
          } catch (e) {
            assert.ok(isStellaError(e) && e.code.startsWith('MERKLE_'), String(e));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
