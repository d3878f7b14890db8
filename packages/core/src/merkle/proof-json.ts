/**
 * JSON form of an inclusion proof, as written by `stella merkle prove` and documented in
 * docs/formats/merkle.md:
 * `{"algorithm":"rfc9162-sha256","treeSize":n,"leafIndex":i,"leafHash":"<hex>","auditPath":["<hex>",…],"root":"<hex>"}`.
 * Hashes are lowercase hex of 32 bytes. Parsing is strict: unknown members, wrong types, uppercase
 * hex or a path of the wrong length for (leafIndex, treeSize) are MERKLE_PROOF_MALFORMED.
 */
import { StellaError } from '../errors/index.js';
import { HASH_SIZE, MERKLE_ALGORITHM } from './merkle-hash.js';
import { consistencyProofLength, inclusionProofLength } from './merkle-tree.js';

/** An inclusion proof with its context (tree size, leaf, expected root). */
export interface InclusionProof {
  treeSize: number;
  leafIndex: number;
  leafHash: Uint8Array;
  auditPath: Uint8Array[];
  root: Uint8Array;
}

/** JSON shape of {@link InclusionProof}. */
export interface InclusionProofJson {
  algorithm: typeof MERKLE_ALGORITHM;
  treeSize: number;
  leafIndex: number;
  leafHash: string;
  auditPath: string[];
  root: string;
}

/** A consistency proof with both tree heads. */
export interface ConsistencyProof {
  size1: number;
  size2: number;
  root1: Uint8Array;
  root2: Uint8Array;
  consistencyPath: Uint8Array[];
}

/** JSON shape of {@link ConsistencyProof}. */
export interface ConsistencyProofJson {
  algorithm: typeof MERKLE_ALGORITHM;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  consistencyPath: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function malformed(msg: string): StellaError {
  return new StellaError('MERKLE_PROOF_MALFORMED', `proof JSON: ${msg}`);
}

/** Parses lowercase hex of one 32-byte hash. @throws StellaError MERKLE_PROOF_MALFORMED */
export function parseHashHex(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || v.length !== HASH_SIZE * 2 || !/^[0-9a-f]+$/.test(v))
    throw malformed(`${what} must be ${HASH_SIZE * 2} lowercase hex characters`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw malformed(`${what} must be a non-negative integer`);
  return v;
}

function record(value: unknown, keys: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('not a JSON object');
  const rec = value as Record<string, unknown>;
  const extra = Object.keys(rec).filter((k) => !keys.includes(k));
  if (extra.length) throw malformed(`unknown member(s) ${extra.join(', ')}`);
  for (const k of keys) if (!(k in rec)) throw malformed(`missing member ${k}`);
  if (rec.algorithm !== MERKLE_ALGORITHM) throw malformed(`algorithm must be "${MERKLE_ALGORITHM}"`);
  return rec;
}

function hashList(v: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(v)) throw malformed(`${what} must be an array`);
  return v.map((h, i) => parseHashHex(h, `${what}[${i}]`));
}

/** The JSON object for an inclusion proof (member order is fixed; serialise with JCS for bytes). */
export function inclusionProofToJson(p: InclusionProof): InclusionProofJson {
  return {
    algorithm: MERKLE_ALGORITHM,
    treeSize: p.treeSize,
    leafIndex: p.leafIndex,
    leafHash: hex(p.leafHash),
    auditPath: p.auditPath.map(hex),
    root: hex(p.root),
  };
}

/**
 * Validates and decodes inclusion-proof JSON (already parsed, e.g. by `parseJson`).
 * @throws StellaError MERKLE_PROOF_MALFORMED (including a path of the wrong length),
 *   MERKLE_INDEX_OUT_OF_RANGE (leafIndex ≥ treeSize), MERKLE_EMPTY_TREE (treeSize 0).
 */
export function parseInclusionProofJson(value: unknown): InclusionProof {
  const r = record(value, ['algorithm', 'treeSize', 'leafIndex', 'leafHash', 'auditPath', 'root']);
  const treeSize = count(r.treeSize, 'treeSize');
  const leafIndex = count(r.leafIndex, 'leafIndex');
  if (treeSize === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'proof JSON: treeSize 0 has no inclusion proofs');
  if (leafIndex >= treeSize)
    throw new StellaError(
      'MERKLE_INDEX_OUT_OF_RANGE',
      `proof JSON: leafIndex ${leafIndex} is not below treeSize ${treeSize}`,
    );
  const auditPath = hashList(r.auditPath, 'auditPath');
  const expected = inclusionProofLength(leafIndex, treeSize);
  if (auditPath.length !== expected)
    throw malformed(`auditPath has ${auditPath.length} hashes; leaf ${leafIndex} of ${treeSize} needs ${expected}`);
  return {
    treeSize,
    leafIndex,
    leafHash: parseHashHex(r.leafHash, 'leafHash'),
    auditPath,
    root: parseHashHex(r.root, 'root'),
  };
}

/** The JSON object for a consistency proof. */
export function consistencyProofToJson(p: ConsistencyProof): ConsistencyProofJson {
  return {
    algorithm: MERKLE_ALGORITHM,
    size1: p.size1,
    size2: p.size2,
    root1: hex(p.root1),
    root2: hex(p.root2),
    consistencyPath: p.consistencyPath.map(hex),
  };
}

/**
 * Validates and decodes consistency-proof JSON.
 * @throws StellaError MERKLE_PROOF_MALFORMED, MERKLE_INDEX_OUT_OF_RANGE, MERKLE_EMPTY_TREE
 */
export function parseConsistencyProofJson(value: unknown): ConsistencyProof {
  const r = record(value, ['algorithm', 'size1', 'size2', 'root1', 'root2', 'consistencyPath']);
  const size1 = count(r.size1, 'size1');
  const size2 = count(r.size2, 'size2');
  if (size1 === 0) throw new StellaError('MERKLE_EMPTY_TREE', 'proof JSON: size1 0 has no consistency proofs');
  if (size1 > size2) throw new StellaError('MERKLE_INDEX_OUT_OF_RANGE', `proof JSON: size1 ${size1} > size2 ${size2}`);
  const consistencyPath = hashList(r.consistencyPath, 'consistencyPath');
  const expected = consistencyProofLength(size1, size2);
  if (consistencyPath.length !== expected)
    throw malformed(`consistencyPath has ${consistencyPath.length} hashes; ${size1} → ${size2} needs ${expected}`);
  return {
    size1,
    size2,
    root1: parseHashHex(r.root1, 'root1'),
    root2: parseHashHex(r.root2, 'root2'),
    consistencyPath,
  };
}
