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
  type IncidentStatus,
  type RetentionPolicy,
  type RetentionPolicyBody,
  type PurgeResult,
  type TombstoneList,
  type Tombstone,
} from './evidence.js';
export {
  TimelineApi,
  type TimelineEvent,
  type TimelineQuery,
  type TimelinePage,
  type TimelineEvidence,
  type TimelineIngestResult,
  type TimelineStreamQuery,
  type StreamedTimelineEvent,
  type FollowOptions,
} from './timeline.js';
export { readEventStream, type SseItem } from './sse.js';
export {
  ExportApi,
  type ExportProfile,
  type ExportProfileBody,
  type ExportPlan,
  type ExportPlanBody,
  type ExportRun,
  type ExportRunList,
  type ExportRunQuery,
  type ExportSchedule,
  type ExportScheduleBody,
  type ExportRunEvent,
  type ExportDownload,
} from './export.js';
export {
  SourcesApi,
  type SourceKind,
  type SourceImportQuery,
  type SourceImportSummary,
  type SourceCounts,
} from './sources.js';
