/**
 * RFC 9162 §2.1 Merkle tree hashes and proofs.
 *
 * - {@link MerkleTreeBuilder} takes leaf hashes one at a time and keeps only the roots of the
 *   perfect subtrees covering the leaves so far (a "compact range": at most log2(n)+1 hashes), so a
 *   root over millions of leaves needs O(log n) memory.
 * - Proof *generation* ({@link inclusionProof}, {@link consistencyProof}) needs every leaf hash
 *   (32 bytes per leaf, never the leaf data), following the recursive definitions of
 *   RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF).
 * - Verification follows the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 literally.
 *
 * Tree sizes are JS safe integers; bit manipulation beyond 2^31 uses arithmetic or BigInt, because
 * JS bitwise operators truncate to 32 bits.
 */
import { StellaError } from '../errors/index.js';
import { assertCount, assertHash, emptyRoot, hashEquals, leafHash, nodeHash } from './merkle-hash.js';

/** Largest power of two strictly less than n (n ≥ 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Streaming root computation over leaf hashes (compact range of perfect subtrees). `push` is
 * amortised O(1) hashes; `root()` costs O(log n) and does not change the state, so roots of every
 * prefix can be taken as leaves arrive.
 */
export class MerkleTreeBuilder {
  /** Perfect subtree roots, strictly decreasing sizes (powers of two), left to right. */
  private readonly stack: { size: number; hash: Uint8Array }[] = [];
  private count = 0;

  /** Number of leaves pushed so far. */
  get size(): number {
    return this.count;
  }

  /** Appends a leaf by its 32-byte leaf hash. */
  push(hash: Uint8Array): this {
    assertHash(hash, 'leaf hash');
    let h: Uint8Array = hash;
    let s = 1;
    // Merge equal-sized neighbours: this is exactly the binary-counter carry of n → n+1.
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === s) {
      h = nodeHash(this.stack.pop()!.hash, h);
      s *= 2;
    }
    this.stack.push({ size: s, hash: h });
    this.count++;
    return this;
  }

  /** Appends a leaf by its data (hashed with the 0x00 prefix). */
  pushData(data: Uint8Array | string): this {
    return this.push(leafHash(data));
  }

  /**
   * The tree head for the leaves pushed so far. With subtrees s0 > s1 > … > sj (left to right),
   * RFC 9162's split at the largest power of two below n makes s0 the left child at every level, so
   * MTH = H(s0, H(s1, … H(sj-1, sj))). The empty tree gives SHA-256("").
   */
  root(): Uint8Array {
    if (this.stack.length === 0) return emptyRoot();
    let h = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) h = nodeHash(this.stack[i]!.hash, h);
    return h;
  }
}

function assertLeafHashes(leaves: readonly Uint8Array[]): void {
  if (!Array.isArray(leaves)) throw new StellaError('MERKLE_PROOF_MALFORMED', 'leaf hashes must be an array');
  leaves.forEach((h, i) => assertHash(h, `leaf hash ${i}`));
}

function subtreeRoot(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 1) return leaves[lo]!;
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leaves, lo, lo + k), subtreeRoot(leaves, lo + k, hi));
}

/** MTH over an array of leaf hashes (empty array → SHA-256("")). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  assertLeafHashes(leaves);
  const b = new MerkleTreeBuilder();
  for (const h of leaves) b.push(h);
  return b.root();
}

/**
 * Inclusion proof (audit path) for leaf `index` in the tree of the first `size` leaf hashes
 * (default: all), bottom-up, per RFC 9162 §2.1.3.1 PATH(m, D[n]).
 * @throws StellaError MERKLE_EMPTY_TREE (size 0), MERKLE_INDEX_OUT_OF_RANGE (index ≥ size or
 *   size > leaves.length).
 */
export function inclusionProof(
  leaves: readonly Uint8Array[],
  index: number,
  size: number = leaves.length,
): Uint8Array[] {
  assertLeafHashes(leaves);
  assertCount(size, 'tree size');
  if (size > leaves.length)
    throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `tree size ${size} exceeds the ${leaves.length} leaves given`, {
      details: { size, leaves: leaves.length },
    });
  if (size === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'the empty tree has no inclusion proofs');
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new StellaError(
      'MERKLE_INDEX_OUT_OF_RANGE',
      `leaf index ${String(index)} is not below the tree size ${size}`,
      { details: { index, size } },
    );
  }
  const out: Uint8Array[] = [];
  const path = (m: number, lo: number, hi: number): void => {
    const n = hi - lo;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      path(m, lo, lo + k);
      out.push(subtreeRoot(leaves, lo + k, hi));
    } else {
      path(m - k, lo + k, hi);
      out.push(subtreeRoot(leaves, lo, lo + k));
    }
  };
  path(index, 0, size);
  return out;
}

/**
 * Consistency proof between the trees of the first `size1` and first `size2` leaf hashes, per
 * RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true). Equal sizes give an empty proof.
 * @throws StellaError MERKLE_EMPTY_TREE (size1 = 0), MERKLE_INDEX_OUT_OF_RANGE (size1 > size2 or
 *   size2 > leaves.length).
 */
export function consistencyProof(
  leaves: readonly Uint8Array[],
  size1: number,
  size2: number = leaves.length,
): Uint8Array[] {
  assertLeafHashes(leaves);
  assertCount(size1, 'size1');
  assertCount(size2, 'size2');
  if (size2 > leaves.length)
    throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `size2 ${size2} exceeds the ${leaves.length} leaves given`, {
      details: { size2 },
    });
  if (size1 > size2)
    throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `size1 ${size1} is larger than size2 ${size2}`, {
      details: { size1, size2 },
    });
  if (size1 === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'consistency proofs need a non-empty first tree');
  const out: Uint8Array[] = [];
  const sub = (m: number, lo: number, hi: number, b: boolean): void => {
    const n = hi - lo;
    if (m === n) {
      if (!b) out.push(subtreeRoot(leaves, lo, hi));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, lo, lo + k, b);
      out.push(subtreeRoot(leaves, lo + k, hi));
    } else {
      sub(m - k, lo + k, hi, false);
      out.push(subtreeRoot(leaves, lo, lo + k));
    }
  };
  sub(size1, 0, size2, true);
  return out;
}

// ---- verification ------------------------------------------------------------------------------

const bitLength = (x: bigint): number => (x === 0n ? 0 : x.toString(2).length);
const popCount = (x: bigint): number => [...x.toString(2)].filter((c) => c === '1').length;

/** Sizes of the two parts of an inclusion proof (transparency-dev `decompInclProof`). */
function decompose(index: number, size: number): { inner: number; border: number } {
  const inner = bitLength(BigInt(index) ^ BigInt(size - 1));
  const border = popCount(BigInt(index) >> BigInt(inner));
  return { inner, border };
}

/** Number of hashes an RFC 9162 inclusion proof for (index, size) must have. */
export function inclusionProofLength(index: number, size: number): number {
  const { inner, border } = decompose(index, size);
  return inner + border;
}

/** Number of hashes an RFC 9162 consistency proof for size1 → size2 must have (0 < size1 ≤ size2). */
export function consistencyProofLength(size1: number, size2: number): number {
  if (size1 === size2) return 0;
  const { inner, border } = decompose(size1 - 1, size2);
  const shift = trailingZeros(size1);
  return (isPowerOfTwo(size1) ? 0 : 1) + inner - shift + border;
}

function trailingZeros(n: number): number {
  let z = 0;
  while (n > 0 && n % 2 === 0) {
    n /= 2;
    z++;
  }
  return z;
}
const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** trailingZeros(n) === n;
const odd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

function checkProofArray(proof: readonly Uint8Array[], expected: number, what: string): void {
  if (!Array.isArray(proof)) throw new StellaError('MERKLE_PROOF_MALFORMED', `${what} must be an array of hashes`);
  if (proof.length !== expected) {
    throw new StellaError(
      'MERKLE_PROOF_MALFORMED',
      `${what} has ${proof.length} hashes; this tree size needs ${expected}`,
      {
        details: { got: proof.length, expected },
      },
    );
  }
  proof.forEach((h, i) => assertHash(h, `${what}[${i}]`));
}

/**
 * The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1–5, without the final compare).
 * @throws StellaError MERKLE_EMPTY_TREE, MERKLE_INDEX_OUT_OF_RANGE, MERKLE_PROOF_MALFORMED
 */
export function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  assertHash(leaf, 'leaf hash');
  assertCount(index, 'leaf index');
  assertCount(size, 'tree size');
  if (size === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'the empty tree has no inclusion proofs');
  if (index >= size)
    throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `leaf index ${index} is not below the tree size ${size}`, {
      details: { index, size },
    });
  checkProofArray(proof, inclusionProofLength(index, size), 'inclusion proof');
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0)
      throw new StellaError('MERKLE_PROOF_MALFORMED', 'inclusion proof is longer than the path to the root');
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new StellaError('MERKLE_PROOF_MALFORMED', 'inclusion proof is shorter than the path to the root');
  return r;
}

/**
 * Verifies an inclusion proof (RFC 9162 §2.1.3.2). Returns normally when `leaf` at `index` is in
 * the tree of `size` leaves with head `root`.
 * @throws StellaError MERKLE_PROOF_INVALID (`details.check = 'root'`) when the computed root
 *   differs; MERKLE_PROOF_MALFORMED / MERKLE_INDEX_OUT_OF_RANGE / MERKLE_EMPTY_TREE for bad shapes.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  assertHash(root, 'root');
  const computed = rootFromInclusionProof(leaf, index, size, proof);
  if (!hashEquals(computed, root)) {
    throw new StellaError(
      'MERKLE_PROOF_INVALID',
      `inclusion proof for leaf ${index} of ${size} does not lead to the expected root`,
      {
        details: {
          check: 'root',
          computed: Buffer.from(computed).toString('hex'),
          expected: Buffer.from(root).toString('hex'),
        },
      },
    );
  }
}

/**
 * Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of `size2` leaves with head `root2`
 * extends the tree of `size1` leaves with head `root1`. Equal sizes need an empty proof and equal
 * roots.
 * @throws StellaError MERKLE_PROOF_INVALID (`details.check` = 'root1' | 'root2'),
 *   MERKLE_PROOF_MALFORMED, MERKLE_INDEX_OUT_OF_RANGE (size1 > size2), MERKLE_EMPTY_TREE (size1 0).
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  assertCount(size1, 'size1');
  assertCount(size2, 'size2');
  assertHash(root1, 'root1');
  assertHash(root2, 'root2');
  if (size1 > size2)
    throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `size1 ${size1} is larger than size2 ${size2}`, {
      details: { size1, size2 },
    });
  if (size1 === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'consistency proofs need a non-empty first tree');
  checkProofArray(proof, consistencyProofLength(size1, size2), 'consistency proof');
  const invalid = (check: 'root1' | 'root2') =>
    new StellaError('MERKLE_PROOF_INVALID', `consistency proof ${size1} → ${size2} does not reproduce ${check}`, {
      details: { check },
    });
  if (size1 === size2) {
    if (!hashEquals(root1, root2)) throw invalid('root2');
    return;
  }
  // Step 1: when size1 is a power of two, root1 is itself the first node of the path.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  // Steps 2–3.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 4.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 5.
  for (const c of path.slice(1)) {
    if (sn === 0)
      throw new StellaError('MERKLE_PROOF_MALFORMED', 'consistency proof is longer than the path to the root');
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 6.
  if (sn !== 0)
    throw new StellaError('MERKLE_PROOF_MALFORMED', 'consistency proof is shorter than the path to the root');
  if (!hashEquals(fr, root1)) throw invalid('root1');
  if (!hashEquals(sr, root2)) throw invalid('root2');
}
