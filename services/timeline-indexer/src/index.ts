export { timelineIndexerService, timelineMetrics, TIMELINE_GROUP } from './service.js';
export { timelineConsumer, type TimelineConsumerOptions } from './consumer.js';
export { createTimelineMetrics, type TimelineMetrics } from './metrics.js';
export { storeTenantBatch, inlineDetails, DETAILS_INLINE_MAX, type IngestOutcome } from './ingest.js';
export {
  listTimeline,
  timelinePageQuery,
  type TimelineEvent,
  type TimelineFilters,
  type TimelinePage,
  type EvidenceLink,
} from './query.js';
