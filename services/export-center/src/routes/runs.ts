/**
 * Export runs (issue #10 §4, §7): `POST /v1/exports/runs` → 202 queued (Idempotency-Key; the run
 * pins the profile version and the ledger head now, so sources imported later never leak in),
 * `GET /v1/exports/runs` (status/profile filters, keyset pagination with an opaque cursor),
 * `GET /v1/exports/runs/{id}`, `POST /v1/exports/runs/{id}/cancel` (409 once finished).
 * Workers (runs/run-worker.ts) do the rest.
 */
import { monotonicFactory } from 'ulid';
import type { JsonValue } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import {
  errorResponses,
  idempotent,
  IdempotencyKeyHeaderSchema,
  tenantRoute,
  type StellaApp,
} from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { getProfile } from '../profiles/profile.repository.js';
import type { ExportEngine } from '../runs/export-engine.js';
import {
  appendEvent,
  getRun,
  insertRun,
  listRuns,
  requestCancel,
  runView,
  RUN_STATUSES,
  type RunStatus,
} from '../runs/run.repository.js';
import type { ExportSettings } from '../settings.js';
import { IDEMPOTENCY_TABLE } from './profiles.js';
import { ID_PATTERN, IdParams, RunBodySchema, RunSchema, TAG } from './schemas.js';

const ulid = monotonicFactory();

/*
 * The list cursor: base64url of `[1, lastRunId, filtersKey]`. It names the filters it was issued
 * for, so reusing it with other filters is a 400, not a silently wrong page.
 */
function filtersKey(q: { status?: string; profileId?: string }): string {
  return `${q.status ?? ''}|${q.profileId ?? ''}`;
}

export function encodeRunCursor(lastRunId: string, q: { status?: string; profileId?: string }): string {
  return Buffer.from(JSON.stringify([1, lastRunId, filtersKey(q)]), 'utf8').toString('base64url');
}

export function decodeRunCursor(cursor: string, q: { status?: string; profileId?: string }): string {
  const bad = (reason: string) =>
    new StellaError('VALIDATION_FAILED', `invalid cursor: ${reason}`, { details: { field: 'cursor', reason } });
  let v: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw new Error('charset');
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor returned by this API');
  }
  if (
    !Array.isArray(v) ||
    v.length !== 3 ||
    v[0] !== 1 ||
    typeof v[1] !== 'string' ||
    !new RegExp(ID_PATTERN).test(v[1])
  )
    throw bad('not a cursor returned by this API');
  if (v[2] !== filtersKey(q)) throw bad('the cursor was issued for other filters');
  return v[1];
}

const ListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: [...RUN_STATUSES] },
    profileId: { type: 'string', pattern: ID_PATTERN },
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
    cursor: { type: 'string', description: '`nextCursor` of the previous page (opaque).' },
  },
} as const;

export function runRoutes(deps: ServiceDeps, engine: ExportEngine, settings: ExportSettings) {
  return (app: StellaApp) => {
    app.post(
      '/v1/exports/runs',
      {
        config: tenantRoute('export:run'),
        schema: {
          tags: [TAG],
          summary: 'Start an export run of a profile (202: queued for a worker)',
          description:
            'The run pins the profile version and the current ledger head. The same Idempotency-Key with the same body answers the same run; with another body, 409 IDEMPOTENCY_KEY_CONFLICT.',
          headers: { type: 'object', properties: { 'idempotency-key': IdempotencyKeyHeaderSchema } },
          body: RunBodySchema,
          response: { 202: RunSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => {
        const body = req.body as { profileId: string; profileVersion?: number };
        const ctx = deps.tenants.forRequest(req);
        // The head is read before the run's transaction (the ledger reader has its own): any
        // record committed after this point has a higher sequence and stays out of the run.
        const ledgerSeq = await engine.openLedger(deps.db, ctx.tenant).head();
        const res = await ctx.transaction((tx) =>
          idempotent(
            tx,
            {
              table: IDEMPOTENCY_TABLE,
              route: 'POST /v1/exports/runs',
              key: req.headers['idempotency-key'] as string | undefined,
              request: body as unknown as JsonValue,
            },
            async () => {
              await getProfile(tx, body.profileId); // deleted or missing → 404
              const profile = await getProfile(tx, body.profileId, body.profileVersion);
              const run = await insertRun(tx, {
                id: ulid(),
                profileId: profile.id,
                profileVersion: profile.version,
                ledgerSeq,
                maxAttempts: settings.maxAttempts,
                actor: ctx.principal.subject,
              });
              await appendEvent(tx, run.run_id, 'status', { status: 'queued', attempt: 0 });
              await tx.audit({
                action: 'export.run.create',
                resource: run.run_id,
                details: { profileId: profile.id, profileVersion: profile.version, ledgerSeq: ledgerSeq.toString() },
              });
              await tx.publish({
                kind: 'export.requested',
                subject: run.run_id,
                attributes: {
                  runId: run.run_id,
                  profileId: profile.id,
                  profileVersion: profile.version,
                  adapter: profile.adapter,
                  ledgerSeq: ledgerSeq.toString(),
                },
              });
              return { statusCode: 202, body: runView(run) as unknown as JsonValue };
            },
          ),
        );
        if (res.replayed) reply.header('idempotent-replayed', 'true');
        return reply
          .status(res.statusCode as 202)
          .header('location', `/v1/exports/runs/${(res.body as { id: string }).id}`)
          .send(res.body);
      },
    );

    app.get(
      '/v1/exports/runs',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'List export runs, newest first (filters; keyset pagination with an opaque cursor)',
          querystring: ListQuery,
          response: {
            200: {
              type: 'object',
              required: ['items'],
              additionalProperties: false,
              properties: { items: { type: 'array', items: RunSchema }, nextCursor: { type: 'string' } },
            },
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const q = req.query as { status?: RunStatus; profileId?: string; limit: number; cursor?: string };
        const before = q.cursor === undefined ? undefined : decodeRunCursor(q.cursor, q);
        const rows = await deps.tenants
          .forRequest(req)
          .transaction((tx) => listRuns(tx, { status: q.status, profileId: q.profileId, before, limit: q.limit + 1 }));
        const page = rows.slice(0, q.limit);
        return {
          items: page.map(runView),
          ...(rows.length > q.limit ? { nextCursor: encodeRunCursor(page[page.length - 1]!.run_id, q) } : {}),
        };
      },
    );

    app.get(
      '/v1/exports/runs/:id',
      {
        config: tenantRoute('export:read'),
        schema: {
          tags: [TAG],
          summary: 'One export run: status, progress, failure class or result',
          params: IdParams,
          response: { 200: RunSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        return runView(await deps.tenants.forRequest(req).transaction((tx) => getRun(tx, id)));
      },
    );

    app.post(
      '/v1/exports/runs/:id/cancel',
      {
        config: tenantRoute('export:run'),
        schema: {
          tags: [TAG],
          summary: 'Cancel a run: a queued one at once, a running one within seconds (409 once finished)',
          params: IdParams,
          response: { 202: RunSchema, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => {
        const { id } = req.params as { id: string };
        const ctx = deps.tenants.forRequest(req);
        const row = await ctx.transaction(async (tx) => {
          const r = await requestCancel(tx, id);
          if (r.immediate) {
            await appendEvent(tx, id, 'status', { status: 'cancelled', attempt: r.row.attempts });
            await appendEvent(tx, id, 'final', { status: 'cancelled' });
          }
          await tx.audit({ action: 'export.run.cancel', resource: id, details: { immediate: r.immediate } });
          return r.row;
        });
        return reply.status(202).send(runView(row));
      },
    );
  };
}
