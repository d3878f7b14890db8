/**
 * The timeline's HTTP routes (issue #9 items 2–3): `POST /timeline/events` (scope
 * `timeline:write`) into the one ingest pipeline, and the read API (scope `timeline:read`).
 * Another tenant's event answers exactly like a missing one (404 NOT_FOUND): RLS hides it.
 */
import { PassThrough } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { StellaError } from '@stella/core/errors';
import { eventProblems, type EventEnvelope } from '@stella/platform/bus';
import { errorResponses, tenantRoute, type RoutePlugin } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { storageProblems, storeTenantBatch } from './ingest.js';
import type { TimelineMetrics } from './metrics.js';
import { lastArrival } from './arrivals.js';
import { evidenceContext, MAX_CUSTODY } from './evidence.js';
import {
  arrivalsBetween,
  arrivalsMatching,
  getEvidenceLinks,
  getTimelineEvent,
  listTimeline,
  type TimelineFilters,
} from './query.js';
import {
  parseLastEventId,
  runStream,
  StreamHub,
  StreamRegistry,
  type StreamSettings,
  type StreamSource,
} from './stream.js';
import type { Db } from '@stella/platform/db';

const TAG = 'timeline';
const ULID = '^[0-7][0-9A-HJKMNP-TV-Z]{25}$';
const DIGEST = '^sha256:[0-9a-f]{64}$';

const Attributes = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]));
const EvidenceRef = Type.Object(
  {
    digest: Type.String({ pattern: DIGEST }),
    bundleId: Type.Optional(Type.String()),
    manifestDigest: Type.Optional(Type.String({ pattern: DIGEST })),
    attestationSubject: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const TimelineEventSchema = Type.Object(
  {
    eventId: Type.String({ pattern: ULID }),
    tenant: Type.String(),
    kind: Type.String(),
    source: Type.String(),
    occurredAt: Type.String({ description: 'As the producer sent it (RFC 3339).' }),
    subject: Type.Optional(Type.String()),
    correlationId: Type.Optional(Type.String()),
    traceId: Type.Optional(Type.String()),
    actor: Type.Optional(Type.String()),
    attributes: Type.Optional(Attributes),
    payload: Type.Optional(Type.Unknown()),
    evidence: Type.Optional(Type.Array(EvidenceRef)),
    ingestSeq: Type.String({
      pattern: '^[1-9][0-9]*$',
      description: 'Position in the (tenant, source) ingest sequence; decimal (int8).',
    }),
    ingestedAt: Type.String({ format: 'date-time' }),
    legalHolds: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'Case ids of the legal holds in force on evidence bundles the event links to (exempt from retention); absent when none.',
      }),
    ),
  },
  { $id: 'TimelineEvent', additionalProperties: false, description: 'A stored event: its envelope plus its place.' },
);

const EvidenceLinkSchema = Type.Object(
  {
    digest: Type.Optional(
      Type.String({
        pattern: DIGEST,
        description:
          "The reference's digest. A derived link (`origin`) has the bundle's archive digest once its seal was indexed, none before.",
      }),
    ),
    origin: Type.Optional(
      Type.Union([Type.Literal('hold'), Type.Literal('custody')], {
        description:
          "Absent: a reference of the event's envelope. `hold`: a bundle its hold event names in `payload.bundleIds`; `custody`: the bundle of an `evidence.custody.*` event (`attributes.bundleId`).",
      }),
    ),
    bundleId: Type.Optional(Type.String()),
    manifestDigest: Type.Optional(Type.String({ pattern: DIGEST })),
    attestationSubject: Type.Optional(Type.String()),
    dsseEnvelope: Type.Optional(
      Type.Object(
        {
          href: Type.String({ description: 'Evidence Locker route of the bundle archive (scope evidence:read).' }),
          path: Type.Literal('signature.json', { description: 'The archive member holding the DSSE envelope.' }),
        },
        { additionalProperties: false, description: 'Where to fetch the DSSE envelope of the bundle.' },
      ),
    ),
    bundle: Type.Optional(
      Type.Object(
        {
          rootHash: Type.Optional(
            Type.String({ pattern: '^[0-9a-f]{64}$', description: 'RFC 9162 Merkle root, hex.' }),
          ),
          archiveDigest: Type.Optional(Type.String({ pattern: DIGEST })),
          manifestDigest: Type.Optional(Type.String({ pattern: DIGEST })),
          kind: Type.Optional(Type.String()),
          leafCount: Type.Optional(Type.Integer({ minimum: 0 })),
          sealedEventId: Type.String({ pattern: ULID }),
          sealedAt: Type.String({ format: 'date-time' }),
        },
        { additionalProperties: false, description: "From the bundle's evidence.bundle.sealed event." },
      ),
    ),
    legalHolds: Type.Optional(Type.Array(Type.String(), { description: 'Case ids of holds in force on the bundle.' })),
    custody: Type.Optional(
      Type.Array(
        Type.Object(
          {
            eventId: Type.String({ pattern: ULID }),
            action: Type.String({ description: 'The `evidence.custody.<action>` of the event.' }),
            occurredAt: Type.String({ format: 'date-time' }),
            actor: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
        {
          description: `The bundle's chain of custody on the timeline (its \`evidence.custody.*\` events), in timeline order; the latest ${MAX_CUSTODY}.`,
        },
      ),
    ),
    custodyTruncated: Type.Optional(
      Type.Literal(true, { description: 'Older custody events exist than `custody` lists.' }),
    ),
  },
  { additionalProperties: false },
);

const IncidentSchema = Type.Object(
  {
    incidentId: Type.String(),
    active: Type.Boolean({ description: 'Activated and not seen deactivated (yet).' }),
    activatedAt: Type.Optional(Type.String({ format: 'date-time' })),
    activatedEventId: Type.Optional(Type.String({ pattern: ULID })),
    activateReason: Type.Optional(Type.String()),
    deactivatedAt: Type.Optional(Type.String({ format: 'date-time' })),
    deactivatedEventId: Type.Optional(Type.String({ pattern: ULID })),
    deactivateReason: Type.Optional(Type.String()),
  },
  {
    additionalProperties: false,
    description: 'An Evidence Locker incident (evidence.incident.activated / deactivated) as the timeline saw it.',
  },
);

/** The filters of `GET /timeline` and `GET /timeline/stream`. */
const FilterProperties = {
  kind: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  traceId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
  digest: Type.Optional(Type.String({ pattern: DIGEST, description: 'Any digest the event mentions.' })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive occurredAt bound.' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive occurredAt bound.' })),
};

const EventIdParams = Type.Object({ eventId: Type.String({ pattern: ULID, description: 'The event ULID.' }) });

/** Defaults when the service runs without parsed settings (docs generation). */
export const DEFAULT_MAX_BATCH = 1000;
export const DEFAULT_STREAM: StreamSettings = { pollMs: 500, heartbeatMs: 15_000, window: 200 };

export function timelineRoutes(deps: ServiceDeps, metrics: TimelineMetrics): RoutePlugin {
  const maxBatch = (deps.settings['STELLA_TIMELINE_HTTP_MAX_BATCH'] as number | undefined) ?? DEFAULT_MAX_BATCH;
  const stream: StreamSettings = {
    pollMs: (deps.settings['STELLA_TIMELINE_STREAM_POLL_MS'] as number | undefined) ?? DEFAULT_STREAM.pollMs,
    heartbeatMs:
      ((deps.settings['STELLA_TIMELINE_STREAM_HEARTBEAT_SECONDS'] as number | undefined) ?? 15) * 1000 ||
      DEFAULT_STREAM.heartbeatMs,
    window: DEFAULT_STREAM.window,
  };
  const streams = new StreamRegistry();
  // One reader per tenant for all of this process's streams (stream.ts).
  const hub = new StreamHub((tenant) => streamSource(deps.db, tenant, metrics), stream);
  return (app) => {
    app.addSchema(TimelineEventSchema);
    // Open streams would hold server.close() forever: end them first (they resume by Last-Event-ID).
    app.addHook('preClose', async () => {
      streams.closeAll();
      hub.close();
    });
    const EventRef = Type.Ref(TimelineEventSchema);

    app.post(
      '/timeline/events',
      {
        config: tenantRoute('timeline:write'),
        schema: {
          tags: [TAG],
          summary: 'Ingest a batch of events',
          description:
            "Validates every event (DESIGN.md §3 envelope); any invalid event rejects the whole batch (EVENT_INVALID, problems by index) and nothing is stored. The token's tenant wins: an event's `tenant` may be omitted and a different one is replaced (counted in `retenanted`). Events already stored for (tenant, eventId) are reported `duplicate` and left as they are (first write wins).",
          body: Type.Object(
            {
              events: Type.Array(
                Type.Object({}, { additionalProperties: true, description: 'An event envelope (DESIGN.md §3).' }),
                { minItems: 1, maxItems: maxBatch },
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object(
              {
                stored: Type.Integer({ minimum: 0 }),
                duplicates: Type.Integer({ minimum: 0 }),
                retenanted: Type.Integer({ minimum: 0 }),
                events: Type.Array(
                  Type.Object(
                    {
                      eventId: Type.String(),
                      status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate')]),
                      source: Type.String(),
                      ingestSeq: Type.Optional(Type.String()),
                    },
                    { additionalProperties: false },
                  ),
                ),
              },
              { additionalProperties: false },
            ),
            ...errorResponses(400, 401, 403, 413),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const problems: { index: number; path: string; message: string }[] = [];
        let retenanted = 0;
        const events = req.body.events.map((raw, index) => {
          const candidate = { ...raw, tenant: ctx.tenant };
          if ('tenant' in raw && raw['tenant'] !== ctx.tenant) retenanted++;
          const found = eventProblems(candidate);
          if (found.length === 0) found.push(...storageProblems(candidate as unknown as EventEnvelope));
          for (const p of found) problems.push({ index, ...p });
          return candidate as unknown as EventEnvelope;
        });
        if (problems.length > 0) {
          const first = problems[0]!;
          throw new StellaError(
            'EVENT_INVALID',
            `event ${first.index}: ${first.path || '(root)'} ${first.message}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`,
            { details: { problems } },
          );
        }
        const end = metrics.batchSeconds.startTimer({ path: 'http' });
        const outcomes = await ctx.transaction(async (tx) => {
          const result = await storeTenantBatch(tx, ctx.tenant, events);
          const stored = result.filter((o) => o.status === 'stored').length;
          await tx.audit({
            action: 'timeline.ingest',
            details: { received: result.length, stored, duplicates: result.length - stored, retenanted },
          });
          return result;
        });
        end();
        const stored = outcomes.filter((o) => o.status === 'stored').length;
        metrics.stored.inc({ path: 'http' }, stored);
        metrics.duplicates.inc({ path: 'http' }, outcomes.length - stored);
        return { stored, duplicates: outcomes.length - stored, retenanted, events: outcomes };
      },
    );

    app.get(
      '/timeline',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: "Query the tenant's timeline",
          description:
            'Events in timeline order — occurredAt (to the millisecond), then source, then that source’s ingest sequence — filtered, one page at a time. `nextCursor` continues after the last event of the page; it is stable while events are added (a walk returns every event that existed when it began exactly once, never one twice) and valid only with the same filters.',
          querystring: Type.Object(
            {
              ...FilterProperties,
              limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
              cursor: Type.Optional(
                Type.String({ minLength: 1, maxLength: 1024, description: 'nextCursor of the previous page.' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object(
              { events: Type.Array(EventRef), nextCursor: Type.Optional(Type.String()) },
              { additionalProperties: false },
            ),
            ...errorResponses(400, 401, 403),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const { limit, cursor, ...filters } = req.query;
        return ctx.transaction(async (tx) => {
          const page = await listTimeline(tx, ctx.tenant, filters as TimelineFilters, limit, cursor);
          await tx.audit({ action: 'timeline.query', details: { filters, limit, returned: page.events.length } });
          return page;
        });
      },
    );

    app.get(
      '/timeline/stream',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: 'Stream new events (Server-Sent Events)',
          description:
            'New events matching the filters (those of `GET /timeline`), as `text/event-stream`, in arrival order: each is `id: <arrival>`, `event: timeline.event`, `data: <TimelineEvent>`. Without `Last-Event-ID` the stream starts at the present; with it, right after that arrival, so a reconnecting client misses nothing and sees nothing twice, late events with an older occurredAt included. An `id:` line alone moves the position past events the filters skipped; `: keep-alive` comment lines come every `STELLA_TIMELINE_STREAM_HEARTBEAT_SECONDS`. The stream ends when the token expires or the server stops; reconnect with `Last-Event-ID`.',
          querystring: Type.Object(FilterProperties, { additionalProperties: false }),
          headers: Type.Object({
            'last-event-id': Type.Optional(
              Type.String({
                pattern: '^(0|[1-9][0-9]{0,18})$',
                description: 'The `id` of the last event received: the stream continues after it.',
              }),
            ),
          }),
          response: {
            200: {
              description: 'The event stream (WHATWG HTML, server-sent events).',
              content: {
                'text/event-stream': {
                  schema: Type.String({
                    examples: [
                      'id: 41\n\n: keep-alive\n\nid: 42\nevent: timeline.event\ndata: {"eventId":"01J…","kind":"scan.completed",…}\n\n',
                    ],
                  }),
                },
              },
            },
            ...errorResponses(400, 401, 403),
          },
        },
      },
      async (req, reply) => {
        const ctx = deps.tenants.forRequest(req);
        const filters = req.query as TimelineFilters;
        const header = req.headers['last-event-id'];
        const resume = typeof header === 'string' ? parseLastEventId(header) : undefined;
        const start = await ctx.transaction(async (tx) => {
          const last = await lastArrival(tx, ctx.tenant);
          // An id this tenant never issued is refused rather than waited for.
          if (resume !== undefined && resume > last)
            throw new StellaError('VALIDATION_FAILED', 'Last-Event-ID is after the last event of this timeline', {
              details: { field: 'last-event-id', reason: 'not an event id of this stream' },
            });
          await tx.audit({
            action: 'timeline.stream',
            details: { filters, ...(resume !== undefined ? { lastEventId: String(resume) } : {}) },
          });
          return resume ?? last;
        });
        const out = new PassThrough();
        const gone = new AbortController();
        reply.raw.on('close', () => gone.abort());
        metrics.streamConnections.inc();
        runStream(out, hub, ctx.tenant, filters, start, streams, ctx.principal.expiresAt * 1000, gone.signal)
          .catch((err) => req.log.warn({ err }, 'timeline stream ended by an error'))
          .finally(() => metrics.streamConnections.dec());
        return (
          reply
            .type('text/event-stream; charset=utf-8')
            .header('cache-control', 'no-store')
            .header('x-accel-buffering', 'no')
            // The schema documents the text; Fastify pipes the stream (no serialization).
            .send(out as unknown as string)
        );
      },
    );

    app.get(
      '/timeline/:eventId',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: 'One event by id',
          params: EventIdParams,
          response: { 200: EventRef, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const { eventId } = req.params;
        const event = await ctx.transaction(async (tx) => {
          const found = await getTimelineEvent(tx, ctx.tenant, eventId);
          await tx.audit({ action: 'timeline.get', resource: eventId, outcome: found ? 'ok' : 'failed' });
          return found;
        });
        if (!event) throw notFound(eventId);
        return event;
      },
    );

    app.get(
      '/timeline/:eventId/evidence',
      {
        config: tenantRoute('timeline:read'),
        schema: {
          tags: [TAG],
          summary: "An event's evidence links",
          description:
            "The evidence references the event carried (bundle id, digest, manifest digest, attestation subject), in envelope order, then the bundles a hold or custody event names outside its envelope (`origin`). A link naming a bundle also says where to fetch the bundle's DSSE envelope, what its `evidence.bundle.sealed` event announced (Merkle root, manifest and archive digests), which legal holds are in force on it and its chain of custody (`evidence.custody.*` events). `incidents`: the Evidence Locker incidents active when the event occurred, and an incident event's own.",
          params: EventIdParams,
          response: {
            200: Type.Object(
              {
                eventId: Type.String({ pattern: ULID }),
                evidence: Type.Array(EvidenceLinkSchema),
                incidents: Type.Optional(
                  Type.Array(IncidentSchema, {
                    description:
                      "Incidents active when the event occurred, and an incident event's own; absent when none.",
                  }),
                ),
              },
              { additionalProperties: false },
            ),
            ...errorResponses(400, 401, 403, 404),
          },
        },
      },
      async (req) => {
        const ctx = deps.tenants.forRequest(req);
        const { eventId } = req.params;
        const found = await ctx.transaction(async (tx) => {
          const links = await getEvidenceLinks(tx, ctx.tenant, eventId);
          const context = links
            ? await evidenceContext(
                tx,
                ctx.tenant,
                eventId,
                links.flatMap((l) => l.bundleId ?? []),
              )
            : undefined;
          await tx.audit({ action: 'timeline.evidence', resource: eventId, outcome: links ? 'ok' : 'failed' });
          return links && context ? { links, context } : undefined;
        });
        if (!found) throw notFound(eventId);
        const evidence = found.links.map((l) => {
          const trail = l.bundleId !== undefined ? found.context.custody.get(l.bundleId) : undefined;
          return trail && trail.entries.length > 0
            ? { ...l, custody: trail.entries, ...(trail.truncated ? { custodyTruncated: true as const } : {}) }
            : l;
        });
        const { incidents } = found.context;
        return { eventId, evidence, ...(incidents.length > 0 ? { incidents } : {}) };
      },
    );
  };
}

/** The stream's reads of `tenant`, each in its own tenant transaction, counted in `metrics`. */
export function streamSource(db: Db, tenant: string, metrics: TimelineMetrics): StreamSource {
  return {
    last: () => {
      metrics.streamReads.inc({ kind: 'poll' });
      return db.withTenant(tenant, (tx) => lastArrival(tx, tenant));
    },
    between: (filters, after, upto) => {
      metrics.streamReads.inc({ kind: 'catch_up' });
      return db.withTenant(tenant, (tx) => arrivalsBetween(tx, tenant, filters, after, upto));
    },
    matching: (sets, after, upto) => {
      metrics.streamReads.inc({ kind: 'shared' });
      return db.withTenant(tenant, (tx) => arrivalsMatching(tx, tenant, sets, after, upto));
    },
  };
}

function notFound(eventId: string): StellaError {
  return new StellaError('NOT_FOUND', `no timeline event ${eventId}`, { details: { eventId } });
}
