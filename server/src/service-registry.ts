/**
 * The one registry of services (issue #6 item 1; DESIGN.md §2). `stella serve` (which services
 * to start, their routes and workers), `stella migrate` (the migration sets), the docs generator
 * (docs/openapi.json, docs/config.md) and the tests all read this list; adding a service means
 * adding its `ServiceModule` here and nowhere else.
 */
import { PLATFORM_MIGRATIONS, type MigrationSet } from '@stella/platform/db';
import type { ServiceModule } from '@stella/platform/service';
import { evidenceLockerService } from '@stella/evidence-locker';
import { exportCenterService } from '@stella/export-center';
import { timelineIndexerService } from '@stella/timeline-indexer';

/** Every service, in the order their migrations apply and `--services` lists them. */
export const SERVICES: readonly ServiceModule[] = Object.freeze([
  evidenceLockerService,
  exportCenterService,
  timelineIndexerService,
]);

/**
 * The migration sets of `services`, in the order they apply: the platform's own tables first,
 * then the shared platform sets the services require (`ServiceModule.requires`, e.g. the
 * transparency log's `tlog` schema; each once), then one set per service (DESIGN.md §3
 * "Postgres": one schema per service). Set names are stored in `stella_migrations.applied` —
 * never rename one.
 */
export function migrationSets(services: readonly ServiceModule[] = SERVICES): MigrationSet[] {
  const shared = new Map<string, MigrationSet>();
  for (const s of services) for (const r of s.requires ?? []) if (!shared.has(r.name)) shared.set(r.name, r);
  return [PLATFORM_MIGRATIONS, ...shared.values(), ...services.map((s) => s.migrations)];
}

/** The modules named by `names` (already checked by `loadConfig`), in registry order. */
export function selectServices(
  names: readonly string[],
  registry: readonly ServiceModule[] = SERVICES,
): ServiceModule[] {
  const unknown = names.filter((n) => !registry.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown service(s): ${unknown.join(', ')}`);
  return registry.filter((s) => names.includes(s.name));
}
