/**
 * The Trivy exports' building blocks for benches and tools (`@stella/export-center/adapters/trivy`):
 * the adapter, the bbolt writer and reader, the OCI artifact and the delta functions.
 */
export { trivyDbAdapter, trivyDbArchive, metadataJson, TRIVY_SCHEMA_VERSION } from './trivy-db.js';
export { BboltWriter, PAGE_SIZE, type BboltWriteResult } from './bbolt/writer.js';
export { readBbolt, comparePaths, type BboltNode } from './bbolt/reader.js';
export {
  trivyDbManifest,
  writeTrivyOciLayout,
  TRIVY_ARTIFACT_TYPE,
  TRIVY_DB_LAYER_TYPE,
  TRIVY_DB_TAG,
  TRIVY_DB_ARTIFACT,
  TRIVY_JAVA_DB_ARTIFACT,
  TRIVY_JAVADB_LAYER_TYPE,
  TRIVY_JAVADB_TAG,
  type TrivyArtifactKind,
} from './oci-artifact.js';
export { diffTrees, encodeOps, decodeOps, applyOps, type DeltaOp, type DeltaCounts } from './delta/delta-ops.js';
export {
  createTrivyDbDelta,
  applyTrivyDbDelta,
  parseTrivyDeltaManifest,
  unpackDbArchive,
  writeTree,
  TRIVY_DELTA_KIND,
  type TrivyDeltaManifest,
} from './delta/trivy-delta.js';
