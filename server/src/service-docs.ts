/**
 * The documents generated from the service registry (issue #6: "the docs generator must generate
 * the OpenAPI document from the same route plugins the server registers"): `scripts/gen-docs.ts`
 * and the drift tests call these, so `docs/openapi.json` and `docs/config.md` list exactly what
 * `stella serve` runs.
 */
import { loadConfig, renderConfigMarkdown } from '@stella/platform/config';
import type { Db } from '@stella/platform/db';
import type { EventBus } from '@stella/platform/bus';
import type { ObjectStore } from '@stella/platform/object-store';
import { buildOpenApiDocument, type OpenApiDocument } from '@stella/platform/http';
import { createTenantContexts, type ServiceDeps, type ServiceModule } from '@stella/platform/service';
import { createHttpMetrics } from '@stella/platform/telemetry';
import { SERVICES } from './service-registry.js';

/** A stand-in for a connection the documents never use: any use is a programming error. */
function absent<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get(_t, prop) {
      if (prop === 'then') return undefined; // not a thenable
      throw new Error(`${what} is not available while generating documents (touched .${String(prop)})`);
    },
  });
}

/** Deps for registering a service's routes without connections (route registration must not use them). */
function documentationDeps(m: ServiceModule): ServiceDeps {
  const config = loadConfig({}, {}, { services: SERVICES, cwd: '/nonexistent' });
  const db = absent<Db>('the database');
  return {
    config,
    settings: config.serviceSettings[m.name] ?? {},
    db,
    bus: absent<EventBus>('the event bus'),
    store: absent<ObjectStore>('the object store'),
    signingKey: 'file:/nonexistent',
    log: absent<ServiceDeps['log']>('the logger'),
    metrics: createHttpMetrics({ defaultMetrics: false }).registry,
    tenants: createTenantContexts(db, m.name),
  };
}

/** `docs/openapi.json`: platform routes plus every registered service's routes and tags. */
export function serviceOpenApiDocument(
  version: string,
  registry: readonly ServiceModule[] = SERVICES,
): Promise<OpenApiDocument> {
  return buildOpenApiDocument(
    registry.flatMap((m) => m.routes?.(documentationDeps(m)) ?? []),
    { version, tags: registry.flatMap((m) => m.openApiTags ?? []) },
  );
}

/** `docs/config.md`: the platform's variables plus every registered service and its variables. */
export function serviceConfigMarkdown(registry: readonly ServiceModule[] = SERVICES): string {
  return renderConfigMarkdown(registry);
}
