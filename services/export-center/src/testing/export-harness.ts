/**
 * The export center in process for tests: the service module over a given engine (routes through
 * `buildApp`, listening on 127.0.0.1, workers started on demand) on a Postgres URL or PGlite, a
 * file signing key, the fs object store, dev tokens. Services may not import `@stella/server`,
 * so this wires the same pieces `startRuntime` does.
 */
import { join } from 'node:path';
import { loadConfig } from '@stella/platform/config';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '@stella/platform/db';
import { createMemoryBus } from '@stella/platform/bus';
import { createTokenVerifierFromConfig, loadOrCreateDevIssuer, SCOPES, type Scope } from '@stella/platform/auth';
import { buildApp, type StellaApp } from '@stella/platform/http';
import { generateFileKey } from '@stella/platform/keys';
import { createHttpMetrics } from '@stella/platform/telemetry';
import { openObjectStore, type ObjectStore } from '@stella/platform/object-store';
import { createTenantContexts, type BackgroundWorker, type ServiceDeps } from '@stella/platform/service';
import { tempDir } from '@stella/testkit';
import type { ExportEngine, RunEnv } from '../runs/export-engine.js';
import { exportMetrics } from '../metrics.js';
import { exportRunWorker } from '../runs/run-worker.js';
import { createExportCenterService } from '../service.js';
import { exportSettings } from '../settings.js';

export interface ExportHarness {
  readonly app: StellaApp;
  readonly url: string;
  readonly db: Db;
  readonly store: ObjectStore;
  readonly dir: string;
  readonly deps: ServiceDeps;
  readonly env: RunEnv;
  token(tenant: string, scopes?: readonly Scope[]): Promise<string>;
  /** fetch as `tenant` (every scope unless given); JSON bodies via `json`. */
  fetch(
    tenant: string,
    method: string,
    path: string,
    init?: { json?: unknown; headers?: Record<string, string>; scopes?: readonly Scope[] },
  ): Promise<Response>;
  /** fetch + parsed JSON body (undefined when empty). */
  call(
    tenant: string,
    method: string,
    path: string,
    json?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Starts a worker with `slots` slots in this process (stopped by close()). */
  startWorker(slots?: number): Promise<BackgroundWorker>;
  close(): Promise<void>;
}

export interface ExportHarnessOptions {
  engine: ExportEngine;
  /** A Postgres URL; default PGlite in the temp dir. */
  databaseUrl?: string;
  /** Extra STELLA_* variables (e.g. STELLA_EXPORT_LEASE_MS). */
  env?: Record<string, string>;
}

export async function startExportHarness(o: ExportHarnessOptions): Promise<ExportHarness> {
  const dir = await tempDir('stella-export-');
  const closers: (() => Promise<unknown>)[] = [() => dir.cleanup()];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    closers.length = 0;
  };
  try {
    const service = createExportCenterService(o.engine);
    const env: Record<string, string> = { STELLA_DATA_DIR: dir.path, ...o.env };
    if (o.databaseUrl) env['STELLA_DATABASE_URL'] = o.databaseUrl;
    const config = loadConfig(env, {}, { cwd: dir.path, services: [service] });
    const db = await openDb(config.database);
    closers.push(() => db.close());
    await migrate(db, [PLATFORM_MIGRATIONS, service.migrations]);
    const bus = createMemoryBus();
    closers.push(() => bus.close());
    const store = openObjectStore(config.objectStore);
    const keyPath = join(dir.path, 'signing-ed25519.pem');
    await generateFileKey(keyPath, 'ed25519');
    const issuer = await loadOrCreateDevIssuer(dir.path);
    const verifier = await createTokenVerifierFromConfig(config.auth, dir.path);
    const built: { app?: StellaApp } = {};
    const httpMetrics = createHttpMetrics({ defaultMetrics: false });
    const deps: ServiceDeps = {
      config,
      settings: config.serviceSettings[service.name] ?? {},
      db,
      bus,
      store,
      signingKey: `file:${keyPath}`,
      get log() {
        return built.app!.log;
      },
      metrics: httpMetrics.registry,
      tenants: createTenantContexts(db, service.name),
    };
    const app = await buildApp({
      config,
      verifier,
      version: '0.0.0-test',
      logger: false,
      plugins: service.routes!(deps),
      openApiTags: service.openApiTags ?? [],
      metrics: httpMetrics,
    });
    built.app = app;
    closers.push(() => app.close());
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const runEnv: RunEnv = {
      db,
      store,
      signingKey: deps.signingKey,
      engine: o.engine,
      settings: exportSettings(deps.settings),
      log: process.env.STELLA_TEST_LOG ? console : quiet,
      metrics: exportMetrics(deps.metrics),
    };
    const token = (tenant: string, scopes: readonly Scope[] = SCOPES) =>
      issuer.mint({ tenant, subject: `user@${tenant}`, scopes: [...scopes], ttlSeconds: 600 });
    const doFetch: ExportHarness['fetch'] = async (tenant, method, path, init = {}) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await token(tenant, init.scopes)}`,
          'x-stella-tenant': tenant,
          ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...init.headers,
        },
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      });
    return {
      app,
      url,
      db,
      store,
      dir: dir.path,
      deps,
      env: runEnv,
      token,
      fetch: doFetch,
      async call(tenant, method, path, json, headers) {
        const res = await doFetch(tenant, method, path, { json, ...(headers ? { headers } : {}) });
        const text = await res.text();
        return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
      },
      async startWorker(slots = 1) {
        const w = exportRunWorker(runEnv, { slots });
        await w.start();
        closers.push(() => w.stop());
        return w;
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
