/**
 * The service seam (DESIGN.md §2: "Each service exports one `ServiceModule` … one registry of them
 * is read by `stella serve`, `stella migrate`, the docs generator and the tests"). A service is
 * one object: its migrations, its config variables, its HTTP routes, its background workers and
 * the OpenAPI tags its routes use. The composition root (`server/`) holds the registry; nothing
 * else keeps a list of services.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { StellaConfig } from '../config/config.js';
import type { ConfigVariable } from '../config/config-variables.js';
import type { Db, MigrationSet } from '../db/index.js';
import type { EventBus } from '../bus/event-bus.js';
import type { ObjectStore } from '../object-store/object-store.js';
import type { RoutePlugin } from '../http/app.js';
import type { TenantContexts } from './tenant-context.js';

/** An OpenAPI tag a service's routes use (`schema.tags`). */
export interface OpenApiTag {
  readonly name: string;
  readonly description: string;
}

/** What the runtime hands a service when it starts. */
export interface ServiceDeps {
  readonly config: StellaConfig;
  /** This service's own variables ({@link ServiceModule.variables}), parsed, by name. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly db: Db;
  readonly bus: EventBus;
  readonly store: ObjectStore;
  /** Signer URI for seals and manifests (configured, or the embedded dev key). */
  readonly signingKey: string;
  readonly log: FastifyBaseLogger;
  /** The app's Prometheus registry (`GET /metrics`): a service registers its own collectors here. */
  readonly metrics: Registry;
  /** Request → tenant-scoped context (principal, `withTenant`, audit, outbox); see tenant-context.ts. */
  readonly tenants: TenantContexts;
}

/**
 * A background loop (export job worker, bus consumer, sweeper). `start` returns once the loop is
 * running; `stop` ends it, letting in-flight work finish or hand it back (lease expiry, no ack).
 */
export interface BackgroundWorker {
  readonly name: string;
  start(): void | Promise<void>;
  stop(): Promise<void>;
}

export interface ServiceModule {
  /** Kebab-case; also the migration set name (stored in `stella_migrations.applied` — never rename). */
  readonly name: string;
  /** One line for `stella serve --help` and the docs. */
  readonly summary: string;
  readonly migrations: MigrationSet;
  /**
   * Shared platform migration sets this service's tables or workers depend on (e.g. the
   * transparency log's `TLOG_MIGRATIONS`). `migrationSets()` applies each once, after the
   * platform's own set and before every service set, in the order first required.
   */
  readonly requires?: readonly MigrationSet[];
  /** `STELLA_<SERVICE>_*` variables; parsed with the platform's, documented in docs/config.md. */
  readonly variables?: readonly ConfigVariable[];
  readonly openApiTags?: readonly OpenApiTag[];
  /**
   * HTTP routes. Called once per app with the service's deps; route registration must not touch
   * the database, bus or store (the docs generator registers routes with no connections).
   */
  routes?(deps: ServiceDeps): readonly RoutePlugin[];
  /**
   * Background workers. `count` is `--workers` / `STELLA_WORKERS` (0: this process serves HTTP
   * only, so job workers are not started; consumers that must run for correctness say so).
   */
  workers?(deps: ServiceDeps, count: number): readonly BackgroundWorker[];
}

/** Identity helper that type-checks a module literal. */
export function defineService(module: ServiceModule): ServiceModule {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(module.name))
    throw new Error(`service name ${JSON.stringify(module.name)} is not kebab-case`);
  if (module.migrations.name !== module.name)
    throw new Error(`service ${module.name}: its migration set must carry the service name`);
  return Object.freeze(module);
}
