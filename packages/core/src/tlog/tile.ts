/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile coordinates and paths, the tiles a tree
 * size requires, tile hash encoding and entry bundles. No I/O.
 *
 * A tile at level L, index N holds the hashes of the tree nodes at height 8·L with indexes
 * N·256 … N·256+W−1: at level 0 the leaf hashes, above that the Merkle tree hash of each *full*
 * tile of the level below. A full tile has W = 256 hashes (8,192 bytes); the rightmost tile of a
 * level is partial (1 ≤ W ≤ 255) with `floor(s / 256^L) mod 256` hashes for a tree of size s.
 * Entry bundles (`tile/entries/…`) have the shape of level-0 tiles but hold the entries themselves,
 * each prefixed by its big-endian uint16 length.
 */
import { StellaError } from '../errors/index.js';
import { HASH_SIZE } from '../merkle/index.js';

/** Tile height: each tile spans 8 tree levels. */
export const TILE_HEIGHT = 8;
/** Hashes (or entries) in a full tile: 2^8. */
export const TILE_WIDTH = 256;
/** Largest entry an entry bundle can hold (uint16 length prefix). */
export const MAX_ENTRY_SIZE = 0xffff;
/** Highest tile level the path grammar allows. */
export const MAX_TILE_LEVEL = 63;

/** One tile (`level` ≥ 0) or entry bundle (`level` = `'entries'`). `width` is 1…256. */
export interface TileId {
  level: number | 'entries';
  index: number;
  width: number;
}

const pathError = (path: string, reason: string) =>
  new StellaError('TLOG_PATH_INVALID', `invalid tile path ${JSON.stringify(path.slice(0, 120))}: ${reason}`, {
    details: { reason },
  });

function assertIndex(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new StellaError('TLOG_PATH_INVALID', `${what} must be a non-negative safe integer, got ${String(n)}`);
}

/** `x001/x234/067` for 1234067: zero-padded 3-digit elements, all but the last prefixed with `x`. */
export function encodeTileIndex(n: number): string {
  assertIndex(n, 'tile index');
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The C2SP path of a tile or entry bundle, e.g. `tile/0/x001/234.p/17` or `tile/entries/005`. */
export function tilePath(t: TileId): string {
  if (t.level !== 'entries') {
    if (!Number.isInteger(t.level) || t.level < 0 || t.level > MAX_TILE_LEVEL)
      throw new StellaError('TLOG_PATH_INVALID', `tile level must be 0…${MAX_TILE_LEVEL}, got ${String(t.level)}`);
  }
  if (!Number.isInteger(t.width) || t.width < 1 || t.width > TILE_WIDTH)
    throw new StellaError('TLOG_PATH_INVALID', `tile width must be 1…${TILE_WIDTH}, got ${String(t.width)}`);
  const base = `tile/${t.level}/${encodeTileIndex(t.index)}`;
  return t.width === TILE_WIDTH ? base : `${base}.p/${t.width}`;
}

/**
 * Parses a C2SP tile path strictly (no leading zeros in L or W, 3-digit groups, `x` prefixes, no
 * redundant leading `x000` group, W 1…255).
 * @throws StellaError TLOG_PATH_INVALID
 */
export function parseTilePath(path: string): TileId {
  if (typeof path !== 'string') throw pathError(String(path), 'not a string');
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile') throw pathError(path, 'must start with tile/<L>/');
  const levelStr = parts[1]!;
  let level: number | 'entries';
  if (levelStr === 'entries') level = 'entries';
  else {
    if (!/^(0|[1-9][0-9]?)$/.test(levelStr))
      throw pathError(path, 'level must be a decimal 0…63 without leading zeros');
    level = Number(levelStr);
    if (level > MAX_TILE_LEVEL) throw pathError(path, 'level above 63');
  }
  let rest = parts.slice(2);
  let width = TILE_WIDTH;
  const last = rest[rest.length - 1]!;
  if (rest.length >= 2 && rest[rest.length - 2]!.endsWith('.p')) {
    if (!/^[1-9][0-9]{0,2}$/.test(last)) throw pathError(path, 'partial width must be 1…255 without leading zeros');
    width = Number(last);
    if (width >= TILE_WIDTH) throw pathError(path, 'partial width must be below 256');
    rest = rest.slice(0, -1);
    rest[rest.length - 1] = rest[rest.length - 1]!.slice(0, -2);
  }
  let index = 0;
  rest.forEach((g, i) => {
    const isLast = i === rest.length - 1;
    const m = isLast ? /^([0-9]{3})$/.exec(g) : /^x([0-9]{3})$/.exec(g);
    if (!m)
      throw pathError(path, isLast ? 'last index element must be 3 digits' : 'index elements must be x + 3 digits');
    if (i === 0 && !isLast && m[1] === '000') throw pathError(path, 'redundant leading x000 element');
    index = index * 1000 + Number(m[1]);
  });
  if (!Number.isSafeInteger(index)) throw pathError(path, 'index too large');
  return { level, index, width };
}

/** Number of complete nodes at height 8·level (i.e. hashes at tile level `level`) for tree `size`. */
export function hashesAtLevel(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/**
 * The tile at `level` holding hash `hashIndex` of that level, with the width it has in a tree of
 * `size` (full when complete, else the partial width).
 */
export function tileContaining(level: number, hashIndex: number, size: number): TileId {
  const count = hashesAtLevel(size, level);
  if (hashIndex >= count)
    throw new StellaError(
      'MERKLE_INDEX_OUT_OF_RANGE',
      `hash ${hashIndex} at level ${level} is not in a tree of ${size}`,
    );
  const index = Math.floor(hashIndex / TILE_WIDTH);
  const full = Math.floor(count / TILE_WIDTH);
  return { level, index, width: index < full ? TILE_WIDTH : count % TILE_WIDTH };
}

/**
 * The partial tiles (and partial entry bundle) of a tree of `size`: the right edge, one per level
 * whose width `floor(size/256^L) mod 256` is not zero. Lowest level first; the entry bundle last.
 */
export function partialTiles(size: number): TileId[] {
  const out: TileId[] = [];
  for (let level = 0; hashesAtLevel(size, level) > 0; level++) {
    const count = hashesAtLevel(size, level);
    const w = count % TILE_WIDTH;
    if (w > 0) out.push({ level, index: Math.floor(count / TILE_WIDTH), width: w });
  }
  const w0 = size % TILE_WIDTH;
  if (w0 > 0) out.push({ level: 'entries', index: Math.floor(size / TILE_WIDTH), width: w0 });
  return out;
}

/**
 * Every tile and entry bundle that is new in a tree of `newSize` compared with one of `oldSize`
 * (full tiles completed in between and the partial tiles of `newSize`), like x/mod's `tlog.NewTiles`.
 * With `oldSize` 0 this is every resource the tree of `newSize` is served as.
 */
export function newTiles(oldSize: number, newSize: number): TileId[] {
  const out: TileId[] = [];
  for (let level = 0; hashesAtLevel(newSize, level) > 0; level++) {
    const oldCount = hashesAtLevel(oldSize, level);
    const newCount = hashesAtLevel(newSize, level);
    for (let n = Math.floor(oldCount / TILE_WIDTH); n < Math.floor(newCount / TILE_WIDTH); n++)
      out.push({ level, index: n, width: TILE_WIDTH });
    const w = newCount % TILE_WIDTH;
    if (w > 0 && newCount > oldCount) out.push({ level, index: Math.floor(newCount / TILE_WIDTH), width: w });
  }
  for (let n = Math.floor(oldSize / TILE_WIDTH); n < Math.floor(newSize / TILE_WIDTH); n++)
    out.push({ level: 'entries', index: n, width: TILE_WIDTH });
  if (newSize % TILE_WIDTH > 0 && newSize > oldSize)
    out.push({ level: 'entries', index: Math.floor(newSize / TILE_WIDTH), width: newSize % TILE_WIDTH });
  return out;
}

/** Concatenates hashes into tile bytes. */
export function encodeTile(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => out.set(h, i * HASH_SIZE));
  return out;
}

/**
 * Splits tile bytes into hashes, checking the length against the expected width.
 * @throws StellaError TLOG_TILE_MISMATCH
 */
export function decodeTile(data: Uint8Array, width: number, path = '(tile)'): Uint8Array[] {
  if (data.length !== width * HASH_SIZE)
    throw new StellaError(
      'TLOG_TILE_MISMATCH',
      `${path}: ${data.length} bytes, a tile of width ${width} has ${width * HASH_SIZE}`,
      { details: { path, got: data.length, expected: width * HASH_SIZE } },
    );
  const out: Uint8Array[] = [];
  for (let i = 0; i < width; i++) out.push(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** @throws StellaError TLOG_ENTRY_INVALID unless `entry` is 1…65535 bytes. */
export function assertEntry(entry: unknown, what = 'entry'): asserts entry is Uint8Array {
  if (!(entry instanceof Uint8Array))
    throw new StellaError('TLOG_ENTRY_INVALID', `${what} must be bytes`, { details: { what } });
  if (entry.length === 0 || entry.length > MAX_ENTRY_SIZE)
    throw new StellaError('TLOG_ENTRY_INVALID', `${what} is ${entry.length} bytes; entries are 1…${MAX_ENTRY_SIZE}`, {
      details: { what, size: entry.length },
    });
}

/** Encodes entries as an entry bundle: each as big-endian uint16 length || bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  entries.forEach((e, i) => {
    assertEntry(e, `entry ${i}`);
    total += 2 + e.length;
  });
  const out = new Uint8Array(total);
  let o = 0;
  for (const e of entries) {
    out[o] = e.length >> 8;
    out[o + 1] = e.length & 0xff;
    out.set(e, o + 2);
    o += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle strictly: every byte consumed, no truncated entry, and (when given)
 * exactly `width` entries.
 * @throws StellaError TLOG_ENTRY_INVALID (malformed), TLOG_TILE_MISMATCH (wrong entry count)
 */
export function decodeEntryBundle(data: Uint8Array, width?: number, path = '(entry bundle)'): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < data.length) {
    if (o + 2 > data.length)
      throw new StellaError('TLOG_ENTRY_INVALID', `${path}: truncated length prefix at byte ${o}`, {
        details: { path },
      });
    const len = (data[o]! << 8) | data[o + 1]!;
    if (len === 0)
      throw new StellaError('TLOG_ENTRY_INVALID', `${path}: empty entry at byte ${o}`, { details: { path } });
    if (o + 2 + len > data.length)
      throw new StellaError('TLOG_ENTRY_INVALID', `${path}: entry at byte ${o} runs past the end`, {
        details: { path },
      });
    out.push(data.subarray(o + 2, o + 2 + len));
    o += 2 + len;
    if (out.length > TILE_WIDTH)
      throw new StellaError('TLOG_ENTRY_INVALID', `${path}: more than ${TILE_WIDTH} entries`, { details: { path } });
  }
  if (width !== undefined && out.length !== width)
    throw new StellaError('TLOG_TILE_MISMATCH', `${path}: ${out.length} entries, expected ${width}`, {
      details: { path, got: out.length, expected: width },
    });
  return out;
}
