/**
 * Merkle tree hashes, root, inclusion and consistency proofs computed from C2SP tiles fetched
 * lazily through a {@link TileReader}, and the incremental {@link TileAppender} that turns appended
 * entries into the new tiles and entry bundles. No I/O: storage implements the reader.
 *
 * A node at height h, index i (covering leaves [i·2^h, (i+1)·2^h)) lives in the tile at level
 * L = ⌊h/8⌋: it is the Merkle root of the 2^(h−8L) consecutive hashes i·2^(h−8L)… of that level.
 * Proofs follow RFC 9162 §2.1.3.1 / §2.1.4.1 with MTH(D[lo:hi]) computed by splitting down to such
 * nodes, so a proof at 10^6 entries reads O(log n) tiles (each at most once, cached per tree).
 */
import { StellaError, isStellaError } from '../errors/index.js';
import { emptyRoot, hashEquals, leafHash, merkleRoot, nodeHash, splitPoint, verifyInclusion } from '../merkle/index.js';
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  assertEntry,
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  encodeTile,
  hashesAtLevel,
  partialTiles,
  tileContaining,
  tilePath,
  type TileId,
} from './tile.js';
import type { Checkpoint, TlogConsistencyProof, TlogInclusionProof } from './checkpoint.js';

/**
 * Fetches tiles and entry bundles by id. Implementations throw StellaError `TLOG_TILE_MISSING` when
 * the resource is not stored; the bytes are checked by the caller (length, hashes).
 */
export interface TileReader {
  readTile(tile: TileId): Promise<Uint8Array>;
}

const isPow2 = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * A read-only view of the tree of `size` entries over a tile reader. Tiles are cached for the
 * lifetime of the view (they are immutable for a given width).
 */
export class TileTree {
  private readonly cache = new Map<string, Promise<Uint8Array[]>>();
  /** Distinct tiles fetched so far (for tests and benchmarks). */
  tilesRead = 0;

  constructor(
    private readonly reader: TileReader,
    readonly size: number,
  ) {
    if (!Number.isSafeInteger(size) || size < 0)
      throw new StellaError('MERKLE_PROOF_MALFORMED', `tree size must be a non-negative integer, got ${String(size)}`);
  }

  /** Hashes of one tile, fetched once; a missing partial tile falls back to the full tile. */
  tileHashes(t: TileId): Promise<Uint8Array[]> {
    const path = tilePath(t);
    let p = this.cache.get(path);
    if (!p) {
      p = this.fetch(t, path);
      this.cache.set(path, p);
      p.catch(() => this.cache.delete(path));
    }
    return p;
  }

  private async fetch(t: TileId, path: string): Promise<Uint8Array[]> {
    this.tilesRead++;
    try {
      return decodeTile(await this.reader.readTile(t), t.width, path);
    } catch (err) {
      // C2SP: partial tiles may be deleted once the full tile exists; its prefix is the same.
      if (t.width < TILE_WIDTH && isStellaError(err) && err.code === 'TLOG_TILE_MISSING') {
        const full = { ...t, width: TILE_WIDTH };
        const hashes = decodeTile(await this.reader.readTile(full), TILE_WIDTH, tilePath(full));
        return hashes.slice(0, t.width);
      }
      throw err;
    }
  }

  /** Hash of the complete node at `height`, `index` (leaf hashes at height 0). */
  async nodeAt(height: number, index: number): Promise<Uint8Array> {
    const level = Math.floor(height / TILE_HEIGHT);
    const r = height - level * TILE_HEIGHT;
    const span = 2 ** r;
    const first = index * span;
    if ((index + 1) * 2 ** height > this.size)
      throw new StellaError(
        'MERKLE_INDEX_OUT_OF_RANGE',
        `node ${height}/${index} is not complete in a tree of ${this.size}`,
      );
    const t = tileContaining(level, first, this.size);
    const hashes = await this.tileHashes(t);
    const off = first - t.index * TILE_WIDTH;
    if (span === 1) return hashes[off]!;
    return merkleRoot(hashes.slice(off, off + span));
  }

  /** MTH(D[lo:hi]) per RFC 9162 §2.1.1, from tile hashes. */
  async rangeHash(lo: number, hi: number): Promise<Uint8Array> {
    const n = hi - lo;
    if (n <= 0) return emptyRoot();
    if (isPow2(n) && lo % n === 0) return this.nodeAt(Math.log2(n), lo / n);
    const k = splitPoint(n);
    const [l, r] = await Promise.all([this.rangeHash(lo, lo + k), this.rangeHash(lo + k, hi)]);
    return nodeHash(l, r);
  }

  /** The root hash of this tree size. */
  root(): Promise<Uint8Array> {
    return this.rangeHash(0, this.size);
  }

  /** Leaf hash of entry `index`. */
  leafHash(index: number): Promise<Uint8Array> {
    return this.nodeAt(0, index);
  }

  /**
   * Inclusion proof for entry `index` in the tree of `size` (≤ this tree's size), RFC 9162 PATH.
   * @throws StellaError MERKLE_INDEX_OUT_OF_RANGE, MERKLE_EMPTY_TREE, TLOG_TILE_MISSING, TLOG_TILE_MISMATCH
   */
  async inclusionProof(index: number, size: number = this.size): Promise<TlogInclusionProof> {
    this.checkSize(size);
    if (size === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'the empty tree has no inclusion proofs');
    if (!Number.isSafeInteger(index) || index < 0 || index >= size)
      throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `entry ${String(index)} is not below the tree size ${size}`, {
        details: { index, size },
      });
    const jobs: Promise<Uint8Array>[] = [];
    let lo = 0;
    let hi = size;
    let m = index;
    // Top-down walk; PATH lists the siblings bottom-up, so reverse at the end.
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (m < k) {
        jobs.push(this.rangeHash(lo + k, hi));
        hi = lo + k;
      } else {
        jobs.push(this.rangeHash(lo, lo + k));
        lo = lo + k;
        m -= k;
      }
    }
    const hashes = (await Promise.all(jobs)).reverse();
    return { index, size, hashes };
  }

  /**
   * Consistency proof from `oldSize` to `newSize` (≤ this tree's size), RFC 9162 SUBPROOF.
   * @throws StellaError MERKLE_INDEX_OUT_OF_RANGE, MERKLE_EMPTY_TREE, TLOG_TILE_MISSING, TLOG_TILE_MISMATCH
   */
  async consistencyProof(oldSize: number, newSize: number = this.size): Promise<TlogConsistencyProof> {
    this.checkSize(newSize);
    if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize)
      throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `old size ${String(oldSize)} is not in 0…${newSize}`, {
        details: { oldSize, newSize },
      });
    if (oldSize === 0) return { oldSize, newSize, hashes: [] };
    const jobs: Promise<Uint8Array>[] = [];
    let lo = 0;
    let hi = newSize;
    let m = oldSize;
    let b = true;
    for (;;) {
      const n = hi - lo;
      if (m === n) {
        if (!b) jobs.push(this.rangeHash(lo, hi));
        break;
      }
      const k = splitPoint(n);
      if (m <= k) {
        jobs.push(this.rangeHash(lo + k, hi));
        hi = lo + k;
      } else {
        jobs.push(this.rangeHash(lo, lo + k));
        lo = lo + k;
        m -= k;
        b = false;
      }
    }
    const hashes = (await Promise.all(jobs)).reverse();
    return { oldSize, newSize, hashes };
  }

  /** The entries of bundle `index` as stored (width from this tree size), checked against level 0. */
  async entryBundle(index: number): Promise<Uint8Array[]> {
    const t = tileContaining(0, index * TILE_WIDTH, this.size);
    const bundleId: TileId = { level: 'entries', index, width: t.width };
    const path = tilePath(bundleId);
    const entries = decodeEntryBundle(await this.reader.readTile(bundleId), t.width, path);
    const hashes = await this.tileHashes(t);
    entries.forEach((e, i) => {
      if (!hashEquals(leafHash(e), hashes[i]!))
        throw new StellaError(
          'TLOG_TILE_MISMATCH',
          `${path}: entry ${index * TILE_WIDTH + i} does not hash to its level-0 tile`,
          {
            details: { path, entry: index * TILE_WIDTH + i },
          },
        );
    });
    return entries;
  }

  /** Entry `index`, checked against its leaf hash. */
  async entry(index: number): Promise<Uint8Array> {
    const entries = await this.entryBundle(Math.floor(index / TILE_WIDTH));
    return entries[index % TILE_WIDTH]!;
  }

  /**
   * Checks this tree's tiles against a trusted checkpoint: the root recomputed from the tiles
   * must be the checkpoint's root.
   * @throws StellaError TLOG_TILE_MISMATCH, TLOG_TILE_MISSING
   */
  async verifyAgainst(cp: Pick<Checkpoint, 'size' | 'rootHash'>): Promise<void> {
    if (cp.size !== this.size)
      throw new StellaError('TLOG_CONSISTENCY_SIZE_MISMATCH', `checkpoint size ${cp.size} ≠ tree ${this.size}`);
    const root = await this.root();
    if (!hashEquals(root, cp.rootHash))
      throw new StellaError(
        'TLOG_TILE_MISMATCH',
        `the tiles of tree size ${this.size} do not hash to the checkpoint root`,
        {
          details: {
            size: this.size,
            computed: Buffer.from(root).toString('hex'),
            expected: Buffer.from(cp.rootHash).toString('hex'),
          },
        },
      );
  }

  /**
   * Checks one stored tile against a trusted checkpoint: a full tile's Merkle root must be its
   * parent's hash one level up, up to the partial (right-edge) tiles, which the root covers; so
   * every tile, not only those a given proof touches, is tied to the signed root.
   * @throws StellaError TLOG_TILE_MISMATCH, TLOG_TILE_MISSING
   */
  async verifyTile(
    t: Pick<TileId, 'index'> & { level: number },
    cp: Pick<Checkpoint, 'size' | 'rootHash'>,
  ): Promise<void> {
    let cur = tileContaining(t.level, t.index * TILE_WIDTH, this.size);
    for (;;) {
      const hashes = await this.tileHashes(cur);
      if (cur.width < TILE_WIDTH) break;
      const level = (cur.level as number) + 1;
      const parent = tileContaining(level, cur.index, this.size);
      const up = (await this.tileHashes(parent))[cur.index - parent.index * TILE_WIDTH]!;
      if (!hashEquals(merkleRoot(hashes), up))
        throw new StellaError(
          'TLOG_TILE_MISMATCH',
          `${tilePath(cur)} does not hash to its parent in ${tilePath(parent)}`,
          {
            details: { path: tilePath(cur), parent: tilePath(parent) },
          },
        );
      cur = parent;
    }
    await this.verifyAgainst(cp);
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size)
      throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `tree size ${String(size)} is beyond ${this.size}`, {
        details: { size, treeSize: this.size },
      });
  }
}

/**
 * An inclusion proof computed from tiles, checked against the checkpoint root before it is
 * handed out, so a corrupted tile is reported as such rather than as a bad proof.
 * @throws StellaError TLOG_TILE_MISMATCH (the tiles do not lead to `cp.rootHash`)
 */
export async function provenInclusion(
  tree: TileTree,
  index: number,
  cp: Pick<Checkpoint, 'size' | 'rootHash'>,
): Promise<TlogInclusionProof & { leafHash: Uint8Array }> {
  const [proof, leaf] = await Promise.all([tree.inclusionProof(index, cp.size), tree.leafHash(index)]);
  try {
    verifyInclusion(leaf, index, cp.size, proof.hashes, cp.rootHash);
  } catch (err) {
    if (isStellaError(err) && err.code === 'MERKLE_PROOF_INVALID')
      throw new StellaError(
        'TLOG_TILE_MISMATCH',
        `the stored tiles do not reproduce the root of tree size ${cp.size}`,
        {
          cause: err,
          details: { index, size: cp.size },
        },
      );
    throw err;
  }
  return { ...proof, leafHash: leaf };
}

/** A tile or entry bundle to store. */
export interface TileBlob extends TileId {
  path: string;
  data: Uint8Array;
}

/** What {@link TileAppender.append} produces. */
export interface AppendResult {
  /** Tree size after the append. */
  size: number;
  rootHash: Uint8Array;
  /** New full tiles, the new partial tiles, and the entry bundles — write them all before the checkpoint. */
  blobs: TileBlob[];
}

/**
 * Integrates entries into tiles incrementally. It holds only the right edge of the tree (the
 * partial tile of each level and the partial entry bundle: < 256 hashes per level), so memory is
 * O(log n); {@link TileAppender.open} reads that edge from storage and checks it against the root.
 */
export class TileAppender {
  private readonly edge: Uint8Array[][] = [];
  private entries: Uint8Array[] = [];
  private count: number;

  private constructor(size: number) {
    this.count = size;
  }

  /** Tree size integrated so far. */
  get size(): number {
    return this.count;
  }

  /** An appender for an empty log. */
  static empty(): TileAppender {
    return new TileAppender(0);
  }

  /**
   * An appender continuing the stored tree of `size` with root `rootHash`: reads the partial tiles
   * and partial entry bundle and checks that they reproduce the root.
   * @throws StellaError TLOG_TILE_MISSING, TLOG_TILE_MISMATCH
   */
  static async open(reader: TileReader, size: number, rootHash: Uint8Array): Promise<TileAppender> {
    const a = new TileAppender(size);
    const tree = new TileTree(reader, size);
    for (const t of partialTiles(size)) {
      if (t.level === 'entries') {
        const path = tilePath(t);
        a.entries = decodeEntryBundle(await reader.readTile(t), t.width, path).map((e) => new Uint8Array(e));
        const leaves = a.edge[0] ?? [];
        a.entries.forEach((e, i) => {
          if (!hashEquals(leafHash(e), leaves[i]!))
            throw new StellaError('TLOG_TILE_MISMATCH', `${path}: entry ${i} does not hash to the level-0 tile`, {
              details: { path },
            });
        });
      } else {
        a.edge[t.level] = (await tree.tileHashes(t)).map((h) => new Uint8Array(h));
      }
    }
    for (let l = 0; hashesAtLevel(size, l) > 0; l++) a.edge[l] ??= [];
    const root = a.root();
    if (!hashEquals(root, rootHash))
      throw new StellaError(
        'TLOG_TILE_MISMATCH',
        `the stored right-edge tiles do not reproduce the root of tree size ${size}`,
        {
          details: { size },
        },
      );
    return a;
  }

  /** Current root, from the right edge: the perfect subtrees, largest (leftmost) first. */
  root(): Uint8Array {
    if (this.count === 0) return emptyRoot();
    const subtrees: Uint8Array[] = [];
    for (let l = this.edge.length - 1; l >= 0; l--) {
      const hs = this.edge[l] ?? [];
      let o = 0;
      for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
        const g = 2 ** bit;
        if (hs.length & g) {
          subtrees.push(g === 1 ? hs[o]! : merkleRoot(hs.slice(o, o + g)));
          o += g;
        }
      }
    }
    let h = subtrees[subtrees.length - 1]!;
    for (let i = subtrees.length - 2; i >= 0; i--) h = nodeHash(subtrees[i]!, h);
    return h;
  }

  /**
   * Appends entries (1…65535 bytes each) and returns the tiles and bundles that are new at the
   * resulting size. On a throw nothing changed.
   */
  append(entries: readonly Uint8Array[]): AppendResult {
    entries.forEach((e, i) => assertEntry(e, `entry ${i}`));
    const blobs: TileBlob[] = [];
    const oldSize = this.count;
    const emit = (id: TileId, data: Uint8Array) => blobs.push({ ...id, path: tilePath(id), data });
    for (const e of entries) {
      this.entries.push(e);
      if (this.entries.length === TILE_WIDTH) {
        emit(
          { level: 'entries', index: Math.floor(this.count / TILE_WIDTH), width: TILE_WIDTH },
          encodeEntryBundle(this.entries),
        );
        this.entries = [];
      }
      this.push(0, leafHash(e), emit, this.count);
      this.count++;
    }
    // The partial tiles of the new size at every level whose hash count changed.
    for (const t of partialTiles(this.count)) {
      if (t.level === 'entries') {
        if (this.count > oldSize) emit(t, encodeEntryBundle(this.entries));
      } else if (hashesAtLevel(this.count, t.level) !== hashesAtLevel(oldSize, t.level)) {
        emit(t, encodeTile(this.edge[t.level]!));
      }
    }
    return { size: this.count, rootHash: this.root(), blobs };
  }

  private push(level: number, hash: Uint8Array, emit: (id: TileId, data: Uint8Array) => void, leafIndex: number): void {
    const row = (this.edge[level] ??= []);
    row.push(hash);
    if (row.length === TILE_WIDTH) {
      // Index of this (now full) tile at `level`: the leaf just added is its last covered leaf.
      const index = Math.floor(leafIndex / TILE_WIDTH ** (level + 1));
      emit({ level, index, width: TILE_WIDTH }, encodeTile(row));
      const up = merkleRoot(row);
      this.edge[level] = [];
      this.push(level + 1, up, emit, leafIndex);
    }
  }
}
