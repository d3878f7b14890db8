/**
 * The composition root: turns one validated `StellaConfig` into a running platform (DESIGN.md §2
 * "Runtime modes") — database (PGlite or pg) with migrations applied, object store, event bus with
 * the transactional-outbox relay, the HTTP app with readiness checks — and tears it down in the
 * reverse order. `stella serve` is a thin wrapper around {@link startRuntime}.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StellaConfig } from '@stella/platform/config';
import { openDb, migrate, type Db, type AppliedMigration } from '@stella/platform/db';
import { openObjectStore, type ObjectStore } from '@stella/platform/object-store';
import { openBus, startOutboxRelay, type EventBus } from '@stella/platform/bus';
import { createTokenVerifierFromConfig, loadOrCreateDevIssuer, SCOPES, type DevIssuer } from '@stella/platform/auth';
import { buildApp, type StellaApp } from '@stella/platform/http';
import { generateFileKey } from '@stella/platform/keys';
import { createHttpMetrics } from '@stella/platform/telemetry';
import {
  createTenantContexts,
  type BackgroundWorker,
  type ServiceDeps,
  type ServiceModule,
} from '@stella/platform/service';
import { SERVICES, migrationSets, selectServices } from './service-registry.js';

export interface Runtime {
  readonly config: StellaConfig;
  readonly app: StellaApp;
  readonly db: Db;
  readonly bus: EventBus;
  readonly store: ObjectStore;
  /** `http://host:port` actually bound (port 0 resolves to the chosen port). */
  readonly url: string;
  /** Migrations applied during start-up. */
  readonly applied: readonly AppliedMigration[];
  /** The embedded dev issuer when no external JWKS is configured. */
  readonly devIssuer?: DevIssuer;
  /** Signer URI in use (configured, or the generated dev key). */
  readonly signingKey: string;
  /** The services this process runs (`config.services`, from the registry). */
  readonly services: readonly ServiceModule[];
  /** Background workers started (outbox relay, service workers), by name. */
  readonly workers: readonly string[];
  /** Stop accepting, drain in-flight requests, stop workers and the outbox, close the DB. */
  close(): Promise<void>;
}

export interface StartRuntimeOptions {
  version: string;
  /** Overrides the default JSON logger (tests pass `false`). */
  logger?: false;
  /** The service registry (tests pass their own modules); default {@link SERVICES}. */
  registry?: readonly ServiceModule[];
}

/** The dev signing key under the data dir, created on first start (Ed25519, 0600). */
async function ensureSigningKey(config: StellaConfig): Promise<string> {
  if (config.signingKey) return config.signingKey;
  const dir = join(config.dataDir, 'keys');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'dev-signing-ed25519.pem');
  try {
    await generateFileKey(path, 'ed25519');
  } catch (err) {
    // Already there from an earlier start: keep it (generateFileKey never overwrites).
    if ((err as { code?: string }).code !== 'CONFLICT') throw err;
  }
  return `file:${path}`;
}

/**
 * Starts everything `config` asks for and listens. Migrations of every registered service are
 * applied (replicas running different `--services` subsets share one schema); routes and workers
 * only of `config.services`. On a failure part-way, whatever was opened is closed again before
 * the error propagates.
 */
export async function startRuntime(config: StellaConfig, options: StartRuntimeOptions): Promise<Runtime> {
  const registry = options.registry ?? SERVICES;
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    closers.length = 0;
  };
  try {
    const services = selectServices(config.services, registry);
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const signingKey = await ensureSigningKey(config);
    const devIssuer = config.auth.jwks.kind === 'dev' ? await loadOrCreateDevIssuer(config.dataDir) : undefined;
    const verifier = await createTokenVerifierFromConfig(config.auth, config.dataDir);

    const db = await openDb(config.database);
    closers.push(() => db.close());
    const applied = await migrate(db, migrationSets(registry));

    const store = openObjectStore(config.objectStore);
    closers.push(async () => store.close?.());

    const bus = await openBus(config.bus);
    closers.push(() => bus.close());

    // One registry for `/metrics`: the HTTP metrics and every service's own collectors.
    const metrics = createHttpMetrics();
    // Routes are registered before the app exists, so a service's logger is resolved on use.
    const built: { log?: StellaApp['log'] } = {};
    const depsOf = (m: ServiceModule): ServiceDeps => ({
      config,
      settings: config.serviceSettings[m.name] ?? {},
      db,
      bus,
      store,
      signingKey,
      get log() {
        if (!built.log) throw new Error(`service ${m.name} logged before the app was built`);
        return built.log.child({ service: m.name });
      },
      metrics: metrics.registry,
      tenants: createTenantContexts(db, m.name),
    });
    const deps = new Map(services.map((m) => [m.name, depsOf(m)] as const));

    const app = await buildApp({
      config,
      verifier,
      version: options.version,
      readiness: [
        { name: 'database', check: () => db.ping() },
        { name: 'bus', check: () => bus.ping() },
        { name: 'object-store', check: () => store.ping() },
      ],
      plugins: services.flatMap((m) => m.routes?.(deps.get(m.name)!) ?? []),
      openApiTags: services.flatMap((m) => m.openApiTags ?? []),
      metrics,
      ...(options.logger === false ? { logger: false as const } : {}),
    });
    built.log = app.log;

    // `--workers 0` serves HTTP only: no outbox relay, no job workers (STELLA_WORKERS).
    const workers: BackgroundWorker[] = [];
    if (config.workers > 0) {
      const relay = startOutboxRelay(db, bus);
      workers.push({
        name: 'outbox-relay',
        start: () => undefined,
        stop: () => relay.stop({ drain: true, timeoutMs: Math.min(config.shutdownTimeoutMs, 10_000) }),
      });
      for (const m of services) workers.push(...(m.workers?.(deps.get(m.name)!, config.workers) ?? []));
    }
    for (const w of workers) {
      await w.start();
      closers.push(() => w.stop());
    }
    closers.push(() => app.close());
    const url = await app.listen({ host: config.http.host, port: config.http.port });

    let closing: Promise<void> | undefined;
    return {
      config,
      app,
      db,
      bus,
      store,
      url,
      applied,
      signingKey,
      services,
      workers: workers.map((w) => w.name),
      ...(devIssuer ? { devIssuer } : {}),
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** A dev token for the banner: every scope, for tenant `dev`. */
export function mintDevToken(issuer: DevIssuer, tenant = 'dev', ttlSeconds = 12 * 3600): Promise<string> {
  return issuer.mint({ tenant, subject: 'dev-user', scopes: [...SCOPES], ttlSeconds });
}
