// Published vectors (transparency-dev/merkle, see test-vectors/merkle/SOURCE.md) and the upstream
// proof-corruption probes, ported: every corrupted proof must be rejected with a coded error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@stella/testkit';
import { canonicalJcsBytes } from '@stella/core/canonical-json';
import { sha256Hex } from '@stella/core/digest';
import { isStellaError } from '@stella/core/errors';
import {
  MerkleTreeBuilder,
  consistencyProof,
  inclusionProof,
  inclusionProofToJson,
  leafHash,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from '@stella/core/merkle';

const dir = join(repoRoot, 'packages/core/test-vectors/merkle');
const load = <T>(name: string): T => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;
const h = (x: string) => new Uint8Array(Buffer.from(x, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const tree = load<{
  leaves: string[];
  leafHashes: string[];
  level1: string[];
  level2: string[];
  roots: { treeSize: number; root: string }[];
}>('rfc6962-tree.json');
const incl = load<{ proofs: { leafIndex: number; treeSize: number; root: string; auditPath: string[] }[] }>(
  'inclusion-proofs.json',
);
const cons = load<{
  proofs: { size1: number; size2: number; root1: string; root2: string; consistencyPath: string[] }[];
}>('consistency-proofs.json');
const single = load<{ roots: { treeSize: number; root: string }[] }>('single-byte-leaves-roots.json');
const leafHashes = tree.leaves.map((l) => leafHash(h(l)));
const SOME = h('abacaba000000000000000000000000000000000000000000060061e00123456');
const EMPTY = h('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
const coded = (e: unknown) => isStellaError(e) && e.code.startsWith('MERKLE_');

describe('transparency-dev vectors', () => {
  test('leaf hashes and roots for every prefix size 0…8 (builder and array form)', () => {
    assert.deepEqual(leafHashes.map(hex), tree.leafHashes);
    const b = new MerkleTreeBuilder();
    assert.equal(hex(b.root()), tree.roots[0]!.root);
    tree.leaves.forEach((l, i) => {
      b.pushData(h(l));
      assert.equal(b.size, i + 1);
      assert.equal(hex(b.root()), tree.roots[i + 1]!.root, `n=${i + 1}`);
    });
    for (const { treeSize, root } of tree.roots) assert.equal(hex(merkleRoot(leafHashes.slice(0, treeSize))), root);
    // Interior nodes of the perfect subtrees.
    assert.deepEqual(
      [0, 2, 4, 6].map((i) => hex(merkleRoot(leafHashes.slice(i, i + 2)))),
      tree.level1,
    );
    assert.deepEqual(
      [0, 4].map((i) => hex(merkleRoot(leafHashes.slice(i, i + 4)))),
      tree.level2,
    );
  });

  test('single-byte-leaf roots (independent Python reference)', () => {
    for (const { treeSize, root } of single.roots) {
      const b = new MerkleTreeBuilder();
      for (let i = 0; i < treeSize; i++) b.pushData(Uint8Array.of(i));
      assert.equal(hex(b.root()), root, `n=${treeSize}`);
    }
  });

  for (const v of incl.proofs) {
    test(`inclusion leaf ${v.leafIndex} of ${v.treeSize}: generated = published, verifies, corruptions rejected`, () => {
      const proof = v.auditPath.map(h);
      const root = h(v.root);
      const leaf = leafHashes[v.leafIndex]!;
      assert.deepEqual(inclusionProof(leafHashes.slice(0, v.treeSize), v.leafIndex).map(hex), v.auditPath);
      verifyInclusion(leaf, v.leafIndex, v.treeSize, proof, root);
      const flip = (i: number) =>
        proof.map((p, j) => (j === i ? Uint8Array.from(p, (x, k) => (k === 0 ? x ^ 8 : x)) : p));
      const probes: [string, () => void][] = [
        ['index-1', () => verifyInclusion(leaf, v.leafIndex - 1, v.treeSize, proof, root)],
        ['index+1', () => verifyInclusion(leaf, v.leafIndex + 1, v.treeSize, proof, root)],
        ['index^2', () => verifyInclusion(leaf, v.leafIndex ^ 2, v.treeSize, proof, root)],
        ['size*2', () => verifyInclusion(leaf, v.leafIndex, v.treeSize * 2, proof, root)],
        ['size/2', () => verifyInclusion(leaf, v.leafIndex, Math.floor(v.treeSize / 2), proof, root)],
        [
          'wrong leaf',
          () => verifyInclusion(new TextEncoder().encode('WrongLeaf'), v.leafIndex, v.treeSize, proof, root),
        ],
        ['other leaf', () => verifyInclusion(SOME, v.leafIndex, v.treeSize, proof, root)],
        ['empty root', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, proof, EMPTY)],
        ['random root', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, proof, SOME)],
        ['trailing garbage', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, [...proof, new Uint8Array()], root)],
        ['trailing root', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, [...proof, root], root)],
        ['preceding garbage', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, [new Uint8Array(), ...proof], root)],
        ['preceding root', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, [root, ...proof], root)],
        ['removed component', () => verifyInclusion(leaf, v.leafIndex, v.treeSize, proof.slice(0, -1), root)],
        ...proof.map((_, i): [string, () => void] => [
          `flipped bit in proof[${i}]`,
          () => verifyInclusion(leaf, v.leafIndex, v.treeSize, flip(i), root),
        ]),
      ];
      if (proof.length > 1)
        probes.push([
          'inserted component',
          () => verifyInclusion(leaf, v.leafIndex, v.treeSize, [proof[0]!, SOME, ...proof.slice(1)], root),
        ]);
      for (const [name, fn] of probes) {
        if (name === 'index-1' && v.leafIndex === 0) continue; // -1 is not an index at all
        assert.throws(fn, coded, name);
      }
    });
  }

  for (const v of cons.proofs) {
    test(`consistency ${v.size1} → ${v.size2}: generated = published, verifies, corruptions rejected`, () => {
      const proof = v.consistencyPath.map(h);
      const [r1, r2] = [h(v.root1), h(v.root2)];
      assert.deepEqual(consistencyProof(leafHashes, v.size1, v.size2).map(hex), v.consistencyPath);
      verifyConsistency(v.size1, v.size2, proof, r1, r2);
      const wrong = new TextEncoder().encode('WrongRoot'.padEnd(32, '!'));
      const flip = (i: number) =>
        proof.map((p, j) => (j === i ? Uint8Array.from(p, (x, k) => (k === 0 ? x ^ 16 : x)) : p));
      const probes: [string, () => void][] = [
        ['size1-1', () => verifyConsistency(v.size1 - 1, v.size2, proof, r1, r2)],
        ['size1+1', () => verifyConsistency(v.size1 + 1, v.size2, proof, r1, r2)],
        ['size1^2', () => verifyConsistency(v.size1 ^ 2, v.size2, proof, r1, r2)],
        ['size2*2', () => verifyConsistency(v.size1, v.size2 * 2, proof, r1, r2)],
        ['size2/2', () => verifyConsistency(v.size1, Math.floor(v.size2 / 2), proof, r1, r2)],
        ['wrong root1', () => verifyConsistency(v.size1, v.size2, proof, wrong, r2)],
        ['wrong root2', () => verifyConsistency(v.size1, v.size2, proof, r1, wrong)],
        ['swapped roots', () => verifyConsistency(v.size1, v.size2, proof, r2, r1)],
        ['empty proof', () => verifyConsistency(v.size1, v.size2, [], r1, r2)],
        ['trailing garbage', () => verifyConsistency(v.size1, v.size2, [...proof, new Uint8Array()], r1, r2)],
        ['trailing root1', () => verifyConsistency(v.size1, v.size2, [...proof, r1], r1, r2)],
        ['trailing root2', () => verifyConsistency(v.size1, v.size2, [...proof, r2], r1, r2)],
        ['preceding garbage', () => verifyConsistency(v.size1, v.size2, [new Uint8Array(), ...proof], r1, r2)],
        ['preceding root1', () => verifyConsistency(v.size1, v.size2, [r1, ...proof], r1, r2)],
        ['preceding root2', () => verifyConsistency(v.size1, v.size2, [r2, ...proof], r1, r2)],
        ['preceding proof[0]', () => verifyConsistency(v.size1, v.size2, [proof[0]!, ...proof], r1, r2)],
        ['truncated proof', () => verifyConsistency(v.size1, v.size2, proof.slice(0, -1), r1, r2)],
        ...proof.map((_, i): [string, () => void] => [
          `flipped bit in proof[${i}]`,
          () => verifyConsistency(v.size1, v.size2, flip(i), r1, r2),
        ]),
      ];
      for (const [name, fn] of probes) assert.throws(fn, coded, name);
    });
  }

  test('determinism: proof JSON of a published vector has exactly these bytes (JCS and CLI layout)', () => {
    const v = incl.proofs[1]!; // leaf 5 of 8
    const json = inclusionProofToJson({
      treeSize: 8,
      leafIndex: 5,
      leafHash: leafHashes[5]!,
      auditPath: inclusionProof(leafHashes, 5),
      root: merkleRoot(leafHashes),
    });
    const ordered = `{"algorithm":"rfc9162-sha256","treeSize":8,"leafIndex":5,"leafHash":"${tree.leafHashes[5]}","auditPath":[${v.auditPath.map((x) => `"${x}"`).join(',')}],"root":"${v.root}"}`;
    assert.equal(JSON.stringify(json), ordered);
    const jcs = `{"algorithm":"rfc9162-sha256","auditPath":[${v.auditPath.map((x) => `"${x}"`).join(',')}],"leafHash":"${tree.leafHashes[5]}","leafIndex":5,"root":"${v.root}","treeSize":8}`;
    assert.equal(new TextDecoder().decode(canonicalJcsBytes(json)), jcs);
    assert.equal(
      sha256Hex(canonicalJcsBytes(json)),
      'b125a19a8f86371cb52b624466c7b8d94c6a1a7e230f12db6025581a3fd8b960',
    );
  });

  test('trivial cases from upstream TestVerifyConsistency / TestVerifyInclusionSingleEntry', () => {
    const one = leafHash('data');
    verifyInclusion(one, 0, 1, [], one);
    assert.throws(() => verifyInclusion(one, 0, 1, [], new Uint8Array()), coded);
    assert.throws(() => verifyInclusion(new Uint8Array(), 0, 1, [], one), coded);
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const)
      assert.throws(() => verifyInclusion(SOME, index, size, [], EMPTY), coded);
    verifyConsistency(1, 1, [], SOME, SOME);
    assert.throws(
      () => verifyConsistency(1, 1, [], EMPTY, SOME),
      (e) => isStellaError(e, 'MERKLE_PROOF_INVALID'),
    );
    assert.throws(
      () => verifyConsistency(1, 1, [EMPTY], EMPTY, EMPTY),
      (e) => isStellaError(e, 'MERKLE_PROOF_MALFORMED'),
    );
    assert.throws(
      () => verifyConsistency(2, 1, [], EMPTY, EMPTY),
      (e) => isStellaError(e, 'MERKLE_INDEX_OUT_OF_RANGE'),
    );
    assert.throws(
      () => verifyConsistency(1, 2, [], EMPTY, SOME),
      (e) => isStellaError(e, 'MERKLE_PROOF_MALFORMED'),
    );
    // Our decision (docs/formats/merkle.md): size1 = 0 is MERKLE_EMPTY_TREE, not "trivially consistent".
    assert.throws(
      () => verifyConsistency(0, 1, [], EMPTY, SOME),
      (e) => isStellaError(e, 'MERKLE_EMPTY_TREE'),
    );
  });
});
