export { StellaClient, ApiError, type StellaClientOptions, type WhoAmI } from './client.js';
export type { paths, components } from './generated/openapi.js';
export {
  EvidenceApi,
  type EvidenceBundle,
  type EvidenceList,
  type EvidenceListQuery,
  type EvidenceHold,
  type SnapshotBody,
  type SnapshotResult,
  type BlobUpload,
  type HoldBody,
} from './evidence.js';
export {
  TimelineApi,
  type TimelineEvent,
  type TimelineQuery,
  type TimelinePage,
  type TimelineEvidence,
  type TimelineIngestResult,
} from './timeline.js';
export {
  SourcesApi,
  type SourceKind,
  type SourceImportQuery,
  type SourceImportSummary,
  type SourceCounts,
} from './sources.js';
