/**
 * The timeline-indexer service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Routes: ingest and query (routes.ts); workers: the bus consumers (consumer.ts). See
 * docs/timeline.md.
 */
import { fileURLToPath } from 'node:url';
import { parseInteger, type ConfigVariable } from '@stella/platform/config';
import { defineService, type ServiceDeps } from '@stella/platform/service';
import { timelineConsumer } from './consumer.js';
import { createTimelineMetrics, type TimelineMetrics } from './metrics.js';
import { DEFAULT_MAX_BATCH, timelineRoutes } from './routes.js';

/** The durable consumer group of the indexer (NATS durable consumer, Redis consumer group). */
export const TIMELINE_GROUP = 'timeline-indexer';

const integer = (name: string, def: number, min: number, max: number, description: string): ConfigVariable<number> => ({
  name,
  audience: 'server',
  type: `integer ${min}–${max}`,
  default: String(def),
  description,
  parse: (raw) => parseInteger(raw, min, max),
});

const VARIABLES = [
  integer(
    'STELLA_TIMELINE_HTTP_MAX_BATCH',
    DEFAULT_MAX_BATCH,
    1,
    10_000,
    'Most events one `POST /timeline/events` may carry (the body limit `STELLA_HTTP_BODY_LIMIT` applies too).',
  ),
  integer(
    'STELLA_TIMELINE_CONSUMERS',
    2,
    1,
    64,
    'Batch subscriptions per worker in the timeline consumer group (one fetches while another writes); events in flight per worker are at most this times `STELLA_TIMELINE_BUS_BATCH`.',
  ),
  integer(
    'STELLA_TIMELINE_BUS_BATCH',
    500,
    1,
    10_000,
    'Most bus messages one fetch hands the timeline consumer, written as one multi-row insert per tenant.',
  ),
];

// One set of collectors per registry: a service's routes and workers count into the same ones.
const metricsOf = new WeakMap<ServiceDeps['metrics'], TimelineMetrics>();
/** The timeline metrics in the app's registry (`GET /metrics`). */
export function timelineMetrics(deps: ServiceDeps): TimelineMetrics {
  let m = metricsOf.get(deps.metrics);
  if (!m) metricsOf.set(deps.metrics, (m = createTimelineMetrics(deps.metrics)));
  return m;
}

export const timelineIndexerService = defineService({
  name: 'timeline-indexer',
  summary: 'Indexes platform events into a tenant-isolated timeline linked to evidence',
  // One level above src/ and dist/ alike: the package's migrations folder.
  migrations: { name: 'timeline-indexer', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
  variables: VARIABLES,
  openApiTags: [{ name: 'timeline', description: 'Ordered, deduplicated, tenant-isolated event timeline' }],
  routes: (deps) => [timelineRoutes(deps, timelineMetrics(deps))],
  // The consumers are needed for correctness (events reach the timeline only through them), but
  // one process per deployment is enough: `--workers N` starts N of them in the same group.
  workers: (deps, count) =>
    Array.from({ length: count }, (_, i) => {
      const consumers = deps.settings['STELLA_TIMELINE_CONSUMERS'] as number;
      return timelineConsumer(deps.db, deps.bus, timelineMetrics(deps), {
        name: `timeline-consumer-${i}`,
        group: TIMELINE_GROUP,
        subscriptions: consumers,
        batchSize: deps.settings['STELLA_TIMELINE_BUS_BATCH'] as number,
        warn: (msg, err) => deps.log.warn({ err }, msg),
      });
    }),
});
