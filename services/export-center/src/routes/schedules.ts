/**
 * `/v1/exports/schedules` CRUD (issue #11 §1; docs/export/schedules.md): cron schedules in an
 * explicit IANA time zone and event triggers on source kinds, per profile. Writes need
 * `export:profile:manage`, reads `export:read`; RLS scopes everything to the caller's tenant (another
 * tenant's schedule is EXPORT_SCHEDULE_NOT_FOUND exactly like a missing one); every write is audited.
 * The body is checked as a whole by `validateSchedule` (every problem in one EXPORT_SCHEDULE_INVALID);
 * a missing or deleted profile is EXPORT_PROFILE_NOT_FOUND.
 */
import { monotonicFactory } from 'ulid';
import type { JsonValue } from '@stella/core/canonical-json';
import {
  errorResponses,
  idempotent,
  IdempotencyKeyHeaderSchema,
  tenantRoute,
  type StellaApp,
} from '@stella/platform/http';
import type { ServiceDeps, TenantTx } from '@stella/platform/service';
import { getProfile } from '../profiles/profile.repository.js';
import { nextFire } from '../schedules/cron.js';
import { validateSchedule, MISSED_FIRE_POLICIES, type ScheduleSpec } from '../schedules/schedule.js';
import {
  deleteSchedule,
  fireView,
  getSchedule,
  insertSchedule,
  kindsHead,
  listFires,
  listSchedules,
  replaceSchedule,
  scheduleView,
} from '../schedules/schedule.repository.js';
import type { ExportSettings } from '../settings.js';
import { SOURCE_KINDS } from '../sources/source-record.js';
import { IDEMPOTENCY_TABLE, rethrowNonBodyValidation } from './profiles.js';
import { ID_PATTERN, IdParams, TAG } from './schemas.js';

const ulid = monotonicFactory();

const EXAMPLE = {
  profileId: '01JABCDEFGHJKMNPQRSTVWXYZ0',
  name: 'nightly',
  cron: '0 2 * * *',
  timeZone: 'Europe/Berlin',
};

export const ScheduleBodySchema = {
  type: 'object',
  required: ['profileId'],
  additionalProperties: false,
  description:
    'Exactly one trigger: `cron` + `timeZone`, or `event`. Validated as a whole: every problem is listed in one EXPORT_SCHEDULE_INVALID (an invalid cron names its field in `cronField`).',
  properties: {
    profileId: { type: 'string', pattern: ID_PATTERN },
    name: { type: 'string', maxLength: 200 },
    cron: {
      type: 'string',
      description:
        'Five fields (minute hour day-of-month month day-of-week) or six (seconds first); `@hourly`-style nicknames. Fires no more often than STELLA_EXPORT_SCHEDULE_MIN_INTERVAL_S.',
    },
    timeZone: { type: 'string', description: 'IANA time zone the cron is read in (required with `cron`), e.g. `UTC`.' },
    event: {
      type: 'object',
      required: ['kinds', 'quietPeriod'],
      additionalProperties: false,
      description:
        'Fire when the ledger head of these source kinds moved and then stayed put for `quietPeriod` (debounce).',
      properties: {
        kinds: { type: 'array', items: { type: 'string', enum: [...SOURCE_KINDS] }, minItems: 1 },
        quietPeriod: { type: 'string', description: 'ISO 8601 duration (days, hours, minutes, seconds), e.g. `PT5M`.' },
      },
    },
    missedFires: {
      type: 'string',
      enum: [...MISSED_FIRE_POLICIES],
      default: 'skip',
      description:
        'Cron fires missed while no scheduler ran (older than STELLA_EXPORT_MISSED_FIRE_GRACE_MS when found): `skip` records them and runs nothing, `catchUpOnce` runs once for the latest.',
    },
    enabled: { type: 'boolean', default: true },
  },
  examples: [EXAMPLE],
} as const;

export const ScheduleSchema = {
  type: 'object',
  required: ['id', 'profileId', 'name', 'missedFires', 'enabled', 'createdAt', 'createdBy', 'updatedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    profileId: { type: 'string' },
    name: { type: 'string' },
    cron: { type: 'string' },
    timeZone: { type: 'string' },
    event: {
      type: 'object',
      required: ['kinds', 'quietPeriod'],
      additionalProperties: false,
      properties: { kinds: { type: 'array', items: { type: 'string' } }, quietPeriod: { type: 'string' } },
    },
    missedFires: { type: 'string', enum: [...MISSED_FIRE_POLICIES] },
    enabled: { type: 'boolean' },
    nextFireAt: { type: 'string', format: 'date-time' },
    lastFireAt: { type: 'string', format: 'date-time' },
    lastRunId: { type: 'string' },
    suspended: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      description: 'Set when a fire found the profile deleted: the schedule fires no more until replaced (PUT).',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

const FireSchema = {
  type: 'object',
  required: ['scheduledFor', 'outcome', 'missed', 'firedAt', 'firedBy'],
  additionalProperties: false,
  properties: {
    scheduledFor: { type: 'string', format: 'date-time' },
    outcome: { type: 'string', enum: ['run', 'skipped'] },
    missed: { type: 'integer', description: 'Missed fires folded into this one.' },
    ledgerHead: { type: 'string', description: 'Event fires: the kinds’ ledger head that triggered it.' },
    runId: { type: 'string' },
    firedAt: { type: 'string', format: 'date-time' },
    firedBy: { type: 'string', description: 'The scheduler leader that fired (`host:pid:random`).' },
  },
} as const;

/** The trigger state a new or replaced schedule starts from. */
async function initialState(tx: TenantTx, spec: ScheduleSpec): Promise<{ nextFireAt?: Date; head?: bigint }> {
  if (spec.trigger.type === 'cron') {
    const next = nextFire(spec.trigger.cron, spec.trigger.timeZone, new Date());
    return next ? { nextFireAt: next } : {};
  }
  // An event schedule fires for changes after its creation, not for what is already there.
  return { head: await kindsHead(tx, spec.trigger.kinds) };
}

export function scheduleRoutes(deps: ServiceDeps, settings: ExportSettings) {
  const validate = (body: unknown) => validateSchedule(body, { minIntervalS: settings.scheduleMinIntervalS });
  return (app: StellaApp) => {
    app.post(
      '/v1/exports/schedules',
      {
        config: tenantRoute('export:profile:manage'),
        attachValidation: true,
        schema: {
          tags: [TAG],
          summary: 'Create an export schedule (cron in a time zone, or an event trigger) for a profile',
          headers: { type: 'object', properties: { 'idempotency-key': IdempotencyKeyHeaderSchema } },
          body: ScheduleBodySchema,
          response: { 201: ScheduleSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => {
        rethrowNonBodyValidation(req);
        const spec = validate(req.body);
        const ctx = deps.tenants.forRequest(req);
        const res = await ctx.transaction((tx) =>
          idempotent(
            tx,
            {
              table: IDEMPOTENCY_TABLE,
              route: 'POST /v1/exports/schedules',
              key: req.headers['idempotency-key'] as string | undefined,
              request: req.body as JsonValue,
            },
            async () => {
              await getProfile(tx, spec.profileId); // missing or deleted → EXPORT_PROFILE_NOT_FOUND
              const row = await insertSchedule(tx, ulid(), spec, await initialState(tx, spec), ctx.principal.subject);
              await tx.audit({
                action: 'export.schedule.create',
                resource: row.schedule_id,
                details: { profileId: spec.profileId, trigger: spec.trigger, missedFires: spec.missedFires },
              });
              return { statusCode: 201, body: scheduleView(row) as unknown as JsonValue };
            },
          ),
        );
        if (res.replayed) reply.header('idempotent-replayed', 'true');
        return reply
          .status(res.statusCode as 201)
          .header('location', `/v1/exports/schedules/${(res.body as { id: string }).id}`)
          .send(res.body);
      },
    );

    app.get(
      '/v1/exports/schedules',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'List export schedules (optionally of one profile)',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { profileId: { type: 'string', pattern: ID_PATTERN } },
          },
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: ScheduleSchema } },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const q = req.query as { profileId?: string };
        const rows = await deps.tenants.forRequest(req).transaction((tx) => listSchedules(tx, q));
        return { items: rows.map(scheduleView) };
      },
    );

    app.get(
      '/v1/exports/schedules/:id',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'One export schedule: its trigger, next fire, last run, suspension',
          params: IdParams,
          response: { 200: ScheduleSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        return scheduleView(await deps.tenants.forRequest(req).transaction((tx) => getSchedule(tx, id)));
      },
    );

    app.get(
      '/v1/exports/schedules/:id/fires',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: "A schedule's latest fires, newest first (runs started, missed fires skipped)",
          params: IdParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
          },
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: FireSchema } },
            },
            ...errorResponses(400, 404),
          },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const { limit } = req.query as { limit: number };
        const rows = await deps.tenants.forRequest(req).transaction(async (tx) => {
          await getSchedule(tx, id);
          return listFires(tx, id, limit);
        });
        return { items: rows.map(fireView) };
      },
    );

    app.put(
      '/v1/exports/schedules/:id',
      {
        config: tenantRoute('export:profile:manage'),
        attachValidation: true,
        schema: {
          tags: [TAG],
          summary: 'Replace an export schedule (its trigger state starts afresh; a suspension is lifted)',
          params: IdParams,
          body: ScheduleBodySchema,
          response: { 200: ScheduleSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        rethrowNonBodyValidation(req);
        const { id } = req.params as { id: string };
        const spec = validate(req.body);
        const ctx = deps.tenants.forRequest(req);
        const row = await ctx.transaction(async (tx) => {
          await getSchedule(tx, id, { forUpdate: true });
          await getProfile(tx, spec.profileId);
          const updated = await replaceSchedule(tx, id, spec, await initialState(tx, spec));
          await tx.audit({
            action: 'export.schedule.update',
            resource: id,
            details: { profileId: spec.profileId, trigger: spec.trigger, missedFires: spec.missedFires },
          });
          return updated;
        });
        return scheduleView(row);
      },
    );

    app.delete(
      '/v1/exports/schedules/:id',
      {
        config: tenantRoute('export:profile:manage'),
        schema: {
          tags: [TAG],
          summary: 'Delete an export schedule (it fires no more; its fires and runs stay)',
          params: IdParams,
          response: { 204: { description: 'Deleted', type: 'null' }, ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        await ctx.transaction(async (tx) => {
          await deleteSchedule(tx, id);
          await tx.audit({ action: 'export.schedule.delete', resource: id });
        });
        return reply.status(204).send();
      },
    );
  };
}
