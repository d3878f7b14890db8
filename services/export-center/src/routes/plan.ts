/**
 * `POST /v1/exports/plan`: the planner's dry run for a stored profile or an unsaved one — counts
 * and estimated size at the current ledger head, nothing written. An unsaved profile is validated
 * like a create (every problem at once).
 */
import { StellaError } from '@stella/core/errors';
import { errorResponses, tenantRoute, type StellaApp } from '@stella/platform/http';
import type { ServiceDeps } from '@stella/platform/service';
import { planExport } from '../planner/plan.js';
import { validateProfile } from '../profiles/profile.js';
import { getProfile } from '../profiles/profile.repository.js';
import type { ExportEngine } from '../runs/export-engine.js';
import type { SourceFilter } from '../sources/source-record.js';
import { rethrowNonBodyValidation } from './profiles.js';
import { PlanBodySchema, PlanSchema, TAG } from './schemas.js';

export function planRoutes(deps: ServiceDeps, engine: ExportEngine) {
  return (app: StellaApp) => {
    app.post(
      '/v1/exports/plan',
      {
        config: tenantRoute('export:read'),
        attachValidation: true,
        schema: {
          tags: [TAG],
          summary: 'Dry run: what a run would export now (counts per kind, estimated size, pinned head)',
          body: PlanBodySchema,
          response: { 200: PlanSchema, ...errorResponses(400, 404) },
        },
      },
      async (req) => {
        rethrowNonBodyValidation(req);
        const body = (req.body ?? {}) as { profileId?: unknown; profileVersion?: unknown; profile?: unknown };
        const ctx = deps.tenants.forRequest(req);
        let filter: SourceFilter;
        if (body.profile !== undefined && body.profileId === undefined) {
          filter = validateProfile(body.profile, engine.adapters).filter;
        } else if (typeof body.profileId === 'string' && body.profile === undefined) {
          const version = typeof body.profileVersion === 'number' ? body.profileVersion : undefined;
          filter = (
            await ctx.transaction(async (tx) => {
              await getProfile(tx, body.profileId as string);
              return getProfile(tx, body.profileId as string, version);
            })
          ).filter;
        } else {
          throw new StellaError('VALIDATION_FAILED', 'give either profileId (and profileVersion) or profile', {
            details: { problems: [{ path: '', message: 'exactly one of profileId, profile' }] },
          });
        }
        return planExport(engine.openLedger(deps.db, ctx.tenant), filter);
      },
    );
  };
}
