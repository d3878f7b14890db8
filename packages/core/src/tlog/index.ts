/**
 * Transparency log core (issue 12, DESIGN.md §4 "Transparency log"): C2SP tlog-tiles paths, tiles
 * and entry bundles; tlog-checkpoint bodies; signed-note (Ed25519) signing and verification;
 * tlog-cosignature v1 witness cosignatures;
 * inclusion/consistency proofs computed from tiles read lazily, and the incremental tile appender.
 * RFC 9162 hashing and proof verification come from `@stella/core/merkle`. No I/O. See
 * docs/formats/tlog.md.
 */
export {
  TILE_HEIGHT,
  TILE_WIDTH,
  MAX_ENTRY_SIZE,
  MAX_TILE_LEVEL,
  type TileId,
  encodeTileIndex,
  tilePath,
  parseTilePath,
  hashesAtLevel,
  tileContaining,
  partialTiles,
  newTiles,
  encodeTile,
  decodeTile,
  assertEntry,
  encodeEntryBundle,
  decodeEntryBundle,
} from './tile.js';
export {
  NOTE_ALG_ED25519,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type ParsedNote,
  type NoteVerifier,
  type NoteSigner,
  type OpenedNote,
  isValidKeyName,
  noteKeyId,
  parseNote,
  formatNote,
  signatureBase64,
  signNote,
  openNote,
  ed25519RawPublicKey,
  formatVerifierKey,
  ed25519NoteVerifier,
  parseVerifierKey,
  noteSignerFromSigner,
  generateNoteKey,
  parseSignerKey,
} from './note.js';
export {
  type Checkpoint,
  type SignedCheckpoint,
  type OpenCheckpointOptions,
  type TlogConsistencyProof,
  type TlogInclusionProof,
  formatCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  openCheckpoint,
  verifyCheckpointConsistency,
  verifyInclusionInCheckpoint,
} from './checkpoint.js';
export {
  COSIGNATURE_ALG_ED25519,
  COSIGNATURE_HEADER,
  type Cosignature,
  type CosignatureVerifier,
  type CosignatureSigner,
  type VerifyCosignaturesOptions,
  cosignerKeyId,
  cosignatureMessage,
  formatCosignerVerifierKey,
  ed25519CosignatureVerifier,
  parseCosignerVerifierKey,
  generateCosignerKey,
  parseCosignerKey,
  addCosignatures,
  cosignNote,
  verifyCosignatures,
} from './cosignature.js';
export {
  type TileReader,
  type TileBlob,
  type AppendResult,
  TileTree,
  TileAppender,
  provenInclusion,
} from './tile-tree.js';
