export { StellaClient, ApiError, type StellaClientOptions, type WhoAmI } from './client.js';
export type { paths, components } from './generated/openapi.js';
export {
  TimelineApi,
  type TimelineEvent,
  type TimelineQuery,
  type TimelinePage,
  type TimelineEvidence,
  type TimelineIngestResult,
} from './timeline.js';
