/**
 * The timeline service in process for tests: the real service module (routes through `buildApp`,
 * workers = the bus consumers) on PGlite or a Postgres URL, with dev tokens. Services may not
 * import `@stella/server`, so this wires the same pieces `startRuntime` does, minus listening.
 */
import { loadConfig } from '@stella/platform/config';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '@stella/platform/db';
import { createMemoryBus, type EventBus } from '@stella/platform/bus';
import { createTokenVerifierFromConfig, loadOrCreateDevIssuer, type Scope } from '@stella/platform/auth';
import { buildApp, type StellaApp } from '@stella/platform/http';
import { createHttpMetrics } from '@stella/platform/telemetry';
import { openObjectStore } from '@stella/platform/object-store';
import { createTenantContexts, type BackgroundWorker, type ServiceDeps } from '@stella/platform/service';
import { TLOG_MIGRATIONS } from '@stella/platform/tlog';
import { tempDir } from '@stella/testkit';
import { timelineIndexerService, timelineMetrics } from '../service.js';
import type { TimelineMetrics } from '../metrics.js';

export interface TimelineHarness {
  readonly app: StellaApp;
  readonly db: Db;
  readonly bus: EventBus;
  readonly deps: ServiceDeps;
  readonly metrics: TimelineMetrics;
  /** A dev token of `tenant` with `scopes` (default read + write). */
  token(tenant: string, scopes?: Scope[]): Promise<string>;
  /** `app.inject` as `tenant`: JSON in, `{status, body}` out. */
  call(
    tenant: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
    scopes?: Scope[],
  ): Promise<{ status: number; body: any }>;
  /**
   * Starts `count` consumer workers of the service on `bus` (default the harness bus); they are
   * stopped by `close()`. Returns the workers and the metrics they count into.
   */
  startWorkers(count?: number, bus?: EventBus): Promise<{ workers: BackgroundWorker[]; metrics: TimelineMetrics }>;
  /** Listens on 127.0.0.1 (an ephemeral port) for clients that need a socket (SSE); returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** A Postgres URL; default PGlite in a temp dir. */
  databaseUrl?: string;
  /** Default: a private in-process bus. */
  bus?: EventBus;
  /** Extra STELLA_* variables (e.g. STELLA_TIMELINE_HTTP_MAX_BATCH). */
  env?: Record<string, string>;
  /** Signer URI of the timeline log's checkpoints (default: none usable). */
  signingKey?: string;
}

export async function startTimelineHarness(o: HarnessOptions = {}): Promise<TimelineHarness> {
  const dir = await tempDir('stella-timeline-');
  const closers: (() => Promise<unknown>)[] = [() => dir.cleanup()];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const env: Record<string, string> = { STELLA_DATA_DIR: dir.path, ...o.env };
    if (o.databaseUrl) env['STELLA_DATABASE_URL'] = o.databaseUrl;
    const config = loadConfig(env, {}, { cwd: dir.path, services: [timelineIndexerService] });
    const db = await openDb(config.database);
    closers.push(() => db.close());
    await migrate(db, [PLATFORM_MIGRATIONS, TLOG_MIGRATIONS, timelineIndexerService.migrations]);
    const bus = o.bus ?? createMemoryBus();
    closers.push(() => bus.close());
    const store = openObjectStore(config.objectStore);
    const issuer = await loadOrCreateDevIssuer(dir.path);
    const verifier = await createTokenVerifierFromConfig(config.auth, dir.path);
    const built: { app?: StellaApp } = {};
    const httpMetrics = createHttpMetrics({ defaultMetrics: false });
    const deps: ServiceDeps = {
      config,
      settings: config.serviceSettings[timelineIndexerService.name] ?? {},
      db,
      bus,
      store,
      signingKey: o.signingKey ?? 'unused',
      get log() {
        return built.app!.log;
      },
      metrics: httpMetrics.registry,
      tenants: createTenantContexts(db, timelineIndexerService.name),
    };
    const app = await buildApp({
      config,
      verifier,
      version: '0.0.0-test',
      logger: false,
      plugins: timelineIndexerService.routes!(deps),
      openApiTags: timelineIndexerService.openApiTags ?? [],
      metrics: httpMetrics,
    });
    built.app = app;
    closers.push(() => app.close());
    const token = (tenant: string, scopes: Scope[] = ['timeline:read', 'timeline:write']) =>
      issuer.mint({ tenant, scopes, ttlSeconds: 600 });
    return {
      app,
      db,
      bus,
      deps,
      metrics: timelineMetrics(deps),
      token,
      async call(tenant, method, url, body, scopes) {
        const res = await app.inject({
          method,
          url,
          headers: {
            authorization: `Bearer ${await token(tenant, scopes)}`,
            'x-stella-tenant': tenant,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
      },
      async startWorkers(count = 1, other?: EventBus) {
        // Workers on another bus count into their own registry, so a test sees only their numbers.
        const d: ServiceDeps = other
          ? { ...deps, bus: other, metrics: createHttpMetrics({ defaultMetrics: false }).registry }
          : deps;
        const workers = timelineIndexerService.workers!(d, count);
        for (const w of workers) {
          await w.start();
          closers.push(() => w.stop());
        }
        return { workers: [...workers], metrics: timelineMetrics(d) };
      },
      async listen() {
        if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 });
        const addr = app.server.address() as { port: number };
        return `http://127.0.0.1:${addr.port}`;
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
