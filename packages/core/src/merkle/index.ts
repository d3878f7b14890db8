/**
 * RFC 9162 Merkle trees: hashing, streaming root builder, inclusion/consistency proofs and their
 * verifiers, and the proof JSON format. See docs/formats/merkle.md.
 */
export {
  HASH_SIZE,
  MERKLE_ALGORITHM,
  emptyRoot,
  leafHash,
  nodeHash,
  LeafHasher,
  leafHashStream,
  hashEquals,
} from './merkle-hash.js';
export {
  splitPoint,
  MerkleTreeBuilder,
  merkleRoot,
  inclusionProof,
  consistencyProof,
  inclusionProofLength,
  consistencyProofLength,
  rootFromInclusionProof,
  verifyInclusion,
  verifyConsistency,
} from './merkle-tree.js';
export {
  type InclusionProof,
  type InclusionProofJson,
  type ConsistencyProof,
  type ConsistencyProofJson,
  parseHashHex,
  inclusionProofToJson,
  parseInclusionProofJson,
  consistencyProofToJson,
  parseConsistencyProofJson,
} from './proof-json.js';
