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
import { FsObjectStore, S3ObjectStore, type ObjectStore } from '@stella/platform/object-store';
import { openBus, startOutboxRelay, type EventBus, type OutboxRelay } from '@stella/platform/bus';
import { createTokenVerifierFromConfig, loadOrCreateDevIssuer, SCOPES, type DevIssuer } from '@stella/platform/auth';
import { buildApp, type RoutePlugin, type StellaApp } from '@stella/platform/http';
import { generateFileKey } from '@stella/platform/keys';
import { migrationSets } from './migration-sets.js';
import { servicePlugins } from './service-plugins.js';

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
  /** Stop accepting, drain in-flight requests and the outbox, stop consumers, close the DB. */
  close(): Promise<void>;
}

export interface StartRuntimeOptions {
  version: string;
  /** Overrides the default JSON logger (tests pass `false`). */
  logger?: false;
}

/** The object store the config names. */
export function openConfiguredStore(config: StellaConfig): ObjectStore {
  const s = config.objectStore;
  if (s.kind === 'file') return new FsObjectStore({ root: s.root });
  return new S3ObjectStore({
    bucket: s.bucket,
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.credentials ? { credentials: s.credentials } : {}),
  });
}

function busUrl(config: StellaConfig): string {
  const b = config.bus;
  return b.kind === 'memory' ? 'memory:' : b.kind === 'nats' ? b.servers.join(',') : b.url;
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
 * Starts everything `config` asks for and listens. On a failure part-way, whatever was opened is
 * closed again before the error propagates.
 */
export async function startRuntime(config: StellaConfig, options: StartRuntimeOptions): Promise<Runtime> {
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    closers.length = 0;
  };
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const signingKey = await ensureSigningKey(config);
    const devIssuer = config.auth.jwks.kind === 'dev' ? await loadOrCreateDevIssuer(config.dataDir) : undefined;
    const verifier = await createTokenVerifierFromConfig(config.auth, config.dataDir);

    const db =
      config.database.kind === 'postgres'
        ? await openDb({ url: config.database.url, poolMax: config.database.poolMax })
        : await openDb({ dataDir: config.database.dataDir });
    closers.push(() => db.close());
    const applied = await migrate(db, migrationSets());

    const store = openConfiguredStore(config);
    closers.push(async () => store.close?.());

    const bus = await openBus(busUrl(config));
    closers.push(() => bus.close());
    const relay: OutboxRelay = startOutboxRelay(db, bus);
    closers.push(() => relay.stop({ drain: true, timeoutMs: Math.min(config.shutdownTimeoutMs, 10_000) }));

    const plugins: RoutePlugin[] = await servicePlugins(config.services);
    const app = await buildApp({
      config,
      verifier,
      version: options.version,
      readiness: [
        { name: 'database', check: () => db.ping() },
        { name: 'bus', check: () => bus.ping() },
        { name: 'object-store', check: () => store.ping() },
      ],
      plugins,
      ...(options.logger === false ? { logger: false as const } : {}),
    });
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
