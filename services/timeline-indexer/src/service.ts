/**
 * The timeline-indexer service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Routes: ingest and query (routes.ts); workers: the bus consumers (consumer.ts). See
 * docs/timeline.md.
 */
import { TLOG_MIGRATIONS } from '@stella/platform/tlog';
import { fileURLToPath } from 'node:url';
import { ConfigProblem, parseInteger, type ConfigVariable } from '@stella/platform/config';
import { defineService, type ServiceDeps } from '@stella/platform/service';
import { timelineConsumer } from './consumer.js';
import { createTimelineMetrics, type TimelineMetrics } from './metrics.js';
import { maintenanceWorker } from './maintenance.js';
import { PARTITION_INTERVALS, type PartitionInterval } from './partitions.js';
import { parseTenantRetention } from './retention.js';
import { DEFAULT_MAX_BATCH, DEFAULT_STREAM, timelineRoutes } from './routes.js';
import { retentionRoutes } from './retention-routes.js';
import { DEFAULT_TIMELINE_LOG, TimelineLogs, timelineLogWorker } from './timeline-log.js';
import { timelineLogRoutes } from './timeline-log-routes.js';

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

const VARIABLES: ConfigVariable[] = [
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
  integer(
    'STELLA_TIMELINE_STREAM_POLL_MS',
    DEFAULT_STREAM.pollMs,
    10,
    60_000,
    'How often an open `GET /timeline/stream` that has caught up asks the database for new events.',
  ),
  integer(
    'STELLA_TIMELINE_STREAM_HEARTBEAT_SECONDS',
    DEFAULT_STREAM.heartbeatMs / 1000,
    1,
    3600,
    'Idle seconds after which `GET /timeline/stream` sends a comment line, so proxies keep the connection.',
  ),
  {
    name: 'STELLA_TIMELINE_PARTITION_INTERVAL',
    audience: 'server',
    type: PARTITION_INTERVALS.join(' | '),
    default: 'month',
    description: 'Time range of one partition of the timeline tables (by occurredAt, UTC).',
    parse: (raw: string): PartitionInterval => {
      const v = raw.trim() as PartitionInterval;
      if (!PARTITION_INTERVALS.includes(v))
        throw new ConfigProblem(`expected one of ${PARTITION_INTERVALS.join(', ')}`);
      return v;
    },
  },
  integer(
    'STELLA_TIMELINE_PARTITIONS_AHEAD',
    3,
    0,
    120,
    'Partitions kept ready beyond the current one (the maintenance worker creates them).',
  ),
  integer(
    'STELLA_TIMELINE_MAINTENANCE_SECONDS',
    3600,
    10,
    86_400,
    'Seconds between two rounds of partition maintenance and retention (one also runs at start).',
  ),
  integer(
    'STELLA_TIMELINE_RETENTION_DAYS',
    0,
    0,
    36_500,
    'Days an event is kept after its occurredAt, for tenants without an override; 0 keeps events forever. Events linked to evidence under a legal hold are kept while it lasts.',
  ),
  {
    name: 'STELLA_TIMELINE_RETENTION_TENANTS',
    audience: 'server',
    type: 'tenant=days,…',
    default: '',
    description:
      "Per-tenant overrides of `STELLA_TIMELINE_RETENTION_DAYS` (0 = forever), e.g. `acme=30,audit-co=3650`. A tenant's own setting (`PUT /timeline/retention`) wins over both.",
    parse: (raw: string) => {
      try {
        return parseTenantRetention(raw);
      } catch (err) {
        throw new ConfigProblem((err as Error).message);
      }
    },
  },
  {
    name: 'STELLA_TIMELINE_LOG_ORIGIN',
    audience: 'server',
    type: 'origin prefix',
    default: DEFAULT_TIMELINE_LOG.originPrefix,
    description:
      "Prefix of the timeline logs' checkpoint origins: a tenant's is `<prefix>/<tenant>` (also its note key name). Fixed once a tenant's log exists.",
    parse: (raw: string) => {
      const v = raw.trim();
      if (!/^[^\s+]+$/.test(v)) throw new ConfigProblem('an origin prefix has no whitespace and no `+`');
      return v;
    },
  },
  integer(
    'STELLA_TIMELINE_LOG_CHECKPOINT_SECONDS',
    DEFAULT_TIMELINE_LOG.checkpointMs / 1000,
    1,
    86_400,
    "Seconds between a tenant's timeline batches (one signed checkpoint each), when it has new events.",
  ),
  integer(
    'STELLA_TIMELINE_LOG_INCIDENT_CHECKPOINT_SECONDS',
    DEFAULT_TIMELINE_LOG.incidentCheckpointMs / 1000,
    1,
    86_400,
    'The same while an Evidence Locker incident is active for the tenant (`evidence.incident.activated` seen, not yet deactivated).',
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
  // The per-tenant logs of timeline batches (timeline-log.ts) live in the platform's tlog schema.
  requires: [TLOG_MIGRATIONS],
  variables: VARIABLES,
  openApiTags: [{ name: 'timeline', description: 'Ordered, deduplicated, tenant-isolated event timeline' }],
  routes: (deps) => [
    timelineRoutes(deps, timelineMetrics(deps)),
    retentionRoutes(deps, maintenanceSettings(deps).retention),
    timelineLogRoutes(deps, timelineLogs(deps)),
  ],
  // The consumers are needed for correctness (events reach the timeline only through them), but
  // one process per deployment is enough: `--workers N` starts N of them in the same group.
  // Plus one maintenance worker per process that runs workers (the advisory lock lets one replica
  // work per round).
  workers: (deps, count) => [
    ...Array.from({ length: count }, (_, i) => {
      const consumers = deps.settings['STELLA_TIMELINE_CONSUMERS'] as number;
      return timelineConsumer(deps.db, deps.bus, timelineMetrics(deps), {
        name: `timeline-consumer-${i}`,
        group: TIMELINE_GROUP,
        subscriptions: consumers,
        batchSize: deps.settings['STELLA_TIMELINE_BUS_BATCH'] as number,
        warn: (msg, err) => deps.log.warn({ err }, msg),
      });
    }),
    ...(count > 0 ? [maintenanceWorker(deps.db, maintenanceSettings(deps), deps.log)] : []),
    ...(count > 0 ? [timelineLogWorker(timelineLogs(deps), deps.log)] : []),
  ],
});

const logsOf = new WeakMap<ServiceDeps['db'], TimelineLogs>();
/** The per-tenant timeline logs of the app (routes and the log worker share them). */
export function timelineLogs(deps: ServiceDeps): TimelineLogs {
  let l = logsOf.get(deps.db);
  if (!l) {
    const s = deps.settings;
    logsOf.set(
      deps.db,
      (l = new TimelineLogs(
        { db: deps.db, store: deps.store, signingKey: deps.signingKey },
        {
          ...DEFAULT_TIMELINE_LOG,
          originPrefix: (s['STELLA_TIMELINE_LOG_ORIGIN'] as string | undefined) ?? DEFAULT_TIMELINE_LOG.originPrefix,
          checkpointMs: ((s['STELLA_TIMELINE_LOG_CHECKPOINT_SECONDS'] as number | undefined) ?? 60) * 1000,
          incidentCheckpointMs:
            ((s['STELLA_TIMELINE_LOG_INCIDENT_CHECKPOINT_SECONDS'] as number | undefined) ?? 10) * 1000,
        },
      )),
    );
  }
  return l;
}

/** The maintenance worker's settings from the service's variables. */
export function maintenanceSettings(deps: ServiceDeps) {
  const s = deps.settings;
  return {
    interval: (s['STELLA_TIMELINE_PARTITION_INTERVAL'] as PartitionInterval | undefined) ?? 'month',
    ahead: (s['STELLA_TIMELINE_PARTITIONS_AHEAD'] as number | undefined) ?? 3,
    everyMs: ((s['STELLA_TIMELINE_MAINTENANCE_SECONDS'] as number | undefined) ?? 3600) * 1000,
    retention: {
      defaultDays: (s['STELLA_TIMELINE_RETENTION_DAYS'] as number | undefined) ?? 0,
      tenants: (s['STELLA_TIMELINE_RETENTION_TENANTS'] as Map<string, number> | undefined) ?? new Map<string, number>(),
    },
  };
}
