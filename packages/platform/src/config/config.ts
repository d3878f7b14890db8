/**
 * `loadConfig`: the one validated configuration of a process (issue #2 item 2). Every variable
 * of {@link CONFIG_VARIABLES} is parsed, cross-variable rules are checked, and if anything is
 * wrong the error lists every problem at once (an operator fixing a deployment should not have
 * to restart once per typo). The result is deeply frozen.
 */
import { resolve } from 'node:path';
import { StellaError } from '@stella/core/errors';
import {
  CONFIG_VARIABLES,
  ConfigProblem,
  DEFAULT_DATA_DIR,
  type BusConfig,
  type ConfigVariableName,
  type JwksSource,
  type LogFormat,
  type LogLevel,
  type ObjectStoreUri,
  type S3StoreConfig,
  type ServiceCatalogue,
  type ConfigVariable,
} from './config-variables.js';
import { redactUrl } from './redact-url.js';

/** The dev issuer's fixed identity (also used by `auth/dev-issuer.ts`). */
export const DEV_ISSUER = 'urn:stella:dev-issuer';
export const DEFAULT_AUDIENCE = 'stella';

/** `pglite`: the embedded cluster of the Stella data dir `dataDir` (`openDb` finds it there). */
export type DatabaseConfig = { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string; poolMax?: number };

export type ObjectStoreConfig =
  { kind: 'file'; root: string } | (S3StoreConfig & { credentials?: { accessKeyId: string; secretAccessKey: string } });

export interface StellaConfig {
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimit: number;
    readonly requestTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
  /** Absolute. */
  readonly dataDir: string;
  readonly database: Readonly<DatabaseConfig>;
  readonly bus: Readonly<BusConfig>;
  readonly objectStore: Readonly<ObjectStoreConfig>;
  readonly auth: {
    readonly jwks: Readonly<JwksSource>;
    readonly issuer: string;
    readonly audience: string;
    readonly maxTokenLifetimeSeconds: number;
  };
  /** Enabled services, in registry order. */
  readonly services: readonly string[];
  /** Each enabled service's own variables, parsed, by service then variable name. */
  readonly serviceSettings: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly workers: number;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** Signer URI (`file:`/`pkcs11:`); `undefined` → dev key in `dataDir`. */
  readonly signingKey: string | undefined;
  readonly tsaUrl: string | undefined;
  readonly shutdownTimeoutMs: number;
}

/** Settings of the CLI client commands (`STELLA_SERVER`, `STELLA_TOKEN`, `STELLA_TENANT`). */
export interface ClientConfig {
  readonly server: string;
  readonly token: string | undefined;
  readonly tenant: string | undefined;
}

/** One entry of `CONFIG_INVALID`'s `details.problems`. */
export interface ConfigProblemDetail {
  variable: string;
  message: string;
}

/** Values by variable name: the environment, or `stella serve` flags mapped onto variable names. */
export type ConfigInput = Partial<Record<ConfigVariableName, string | undefined>>;

export interface LoadConfigOptions {
  /** Base for relative paths (`STELLA_DATA_DIR`, a JWKS file). Default: `process.cwd()`. */
  cwd?: string;
  /**
   * The registered services (the `ServiceModule` registry of `server/`): `STELLA_SERVICES` is
   * checked against their names and defaults to all of them; their variables are parsed too.
   * Default: none (a platform without services).
   */
  services?: ServiceCatalogue;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

type Parsed = Partial<Record<ConfigVariableName, unknown>>;

function parseAll(
  input: Record<string, string | undefined>,
  audience: 'server' | 'cli',
  problems: ConfigProblemDetail[],
  variables: readonly ConfigVariable[] = CONFIG_VARIABLES,
): { values: Parsed; given: Set<ConfigVariableName> } {
  const values: Parsed = {};
  const given = new Set<ConfigVariableName>();
  for (const spec of variables as readonly (ConfigVariable & { name: ConfigVariableName })[]) {
    if (spec.audience !== audience) continue;
    const raw = input[spec.name];
    // An empty variable counts as unset: `STELLA_X=` in a unit file usually means "no value".
    const present = raw !== undefined && raw !== '';
    const text = present ? raw : spec.default;
    if (text === undefined) continue;
    if (present) given.add(spec.name);
    try {
      values[spec.name] = (spec.parse as (r: string) => unknown)(text);
    } catch (err) {
      if (!(err instanceof ConfigProblem)) throw err;
      const shown = present && !('secret' in spec && spec.secret) ? ` (got '${redactUrl(raw)}')` : '';
      problems.push({ variable: spec.name, message: `${err.message}${shown}` });
    }
  }
  return { values, given };
}

function fail(problems: ConfigProblemDetail[]): never {
  const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`);
  throw new StellaError(
    'CONFIG_INVALID',
    `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    { details: { problems } },
  );
}

/**
 * Builds the server configuration from `env` (normally `process.env`), with `overrides` (the
 * `stella serve` flags, keyed by the variable they replace) taking precedence. Unknown keys are
 * ignored. Throws `CONFIG_INVALID` whose `details.problems` lists every problem.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  overrides: ConfigInput = {},
  options: LoadConfigOptions = {},
): StellaConfig {
  const cwd = options.cwd ?? process.cwd();
  const input: Record<string, string | undefined> = { ...env };
  for (const [k, val] of Object.entries(overrides)) if (val !== undefined) input[k] = val;
  const problems: ConfigProblemDetail[] = [];
  const { values: p, given } = parseAll(input, 'server', problems);
  const catalogue = options.services ?? [];
  const services = resolveServices(p.STELLA_SERVICES as string[] | undefined, catalogue, problems);
  const serviceSettings: Record<string, Record<string, unknown>> = {};
  for (const entry of catalogue) {
    if (!services.includes(entry.name)) continue;
    serviceSettings[entry.name] = parseAll(input, 'server', problems, entry.variables ?? []).values;
  }

  const dataDir = resolve(cwd, p.STELLA_DATA_DIR as string);

  // --- cross-variable rules -------------------------------------------------------------------
  const store = p.STELLA_OBJECT_STORE as ObjectStoreUri | undefined;
  const keyId = p.STELLA_S3_ACCESS_KEY_ID as string | undefined;
  const secret = p.STELLA_S3_SECRET_ACCESS_KEY as string | undefined;
  const storeFailed = problems.some((x) => x.variable === 'STELLA_OBJECT_STORE');
  if ((keyId !== undefined || secret !== undefined) && !storeFailed && store?.kind !== 's3') {
    problems.push({
      variable: 'STELLA_S3_ACCESS_KEY_ID',
      message: 'S3 credentials are set but STELLA_OBJECT_STORE is not an s3:// URI',
    });
  }
  if (given.has('STELLA_S3_ACCESS_KEY_ID') !== given.has('STELLA_S3_SECRET_ACCESS_KEY')) {
    problems.push({
      variable: given.has('STELLA_S3_ACCESS_KEY_ID') ? 'STELLA_S3_SECRET_ACCESS_KEY' : 'STELLA_S3_ACCESS_KEY_ID',
      message: 'STELLA_S3_ACCESS_KEY_ID and STELLA_S3_SECRET_ACCESS_KEY must be set together',
    });
  }
  const jwks = (p.STELLA_AUTH_JWKS as JwksSource | undefined) ?? { kind: 'dev' as const };
  const issuer = p.STELLA_AUTH_ISSUER as string | undefined;
  if (jwks.kind !== 'dev' && !given.has('STELLA_AUTH_ISSUER')) {
    problems.push({
      variable: 'STELLA_AUTH_ISSUER',
      message: 'required when STELLA_AUTH_JWKS is set (tokens are checked against it)',
    });
  }
  if (jwks.kind === 'dev' && given.has('STELLA_AUTH_ISSUER') && issuer !== DEV_ISSUER) {
    problems.push({
      variable: 'STELLA_AUTH_ISSUER',
      message: `without STELLA_AUTH_JWKS the embedded dev issuer is used, whose issuer is ${DEV_ISSUER}`,
    });
  }
  const requestTimeout = p.STELLA_HTTP_REQUEST_TIMEOUT_MS as number | undefined;
  const headersTimeout = p.STELLA_HTTP_HEADERS_TIMEOUT_MS as number | undefined;
  // Node refuses a headers timeout longer than the request timeout (http.createServer options).
  if (requestTimeout !== undefined && headersTimeout !== undefined && headersTimeout > requestTimeout) {
    problems.push({
      variable: 'STELLA_HTTP_HEADERS_TIMEOUT_MS',
      message: `must not exceed STELLA_HTTP_REQUEST_TIMEOUT_MS (${requestTimeout})`,
    });
  }
  if (problems.length) fail(problems);

  const databaseUrl = p.STELLA_DATABASE_URL as string | undefined;
  const objectStore: ObjectStoreConfig =
    store === undefined
      ? { kind: 'file', root: resolve(dataDir, 'objects') }
      : store.kind === 's3' && keyId !== undefined && secret !== undefined
        ? { ...store, credentials: { accessKeyId: keyId, secretAccessKey: secret } }
        : store;

  return deepFreeze<StellaConfig>({
    http: {
      host: p.STELLA_HTTP_HOST as string,
      port: p.STELLA_HTTP_PORT as number,
      bodyLimit: p.STELLA_BODY_LIMIT as number,
      requestTimeoutMs: requestTimeout!,
      headersTimeoutMs: headersTimeout!,
      keepAliveTimeoutMs: p.STELLA_HTTP_KEEP_ALIVE_TIMEOUT_MS as number,
    },
    dataDir,
    database:
      databaseUrl === undefined
        ? { kind: 'pglite', dataDir }
        : { kind: 'postgres', url: databaseUrl, poolMax: p.STELLA_DATABASE_POOL_MAX as number },
    bus: {
      ...((p.STELLA_BUS_URL as BusConfig | undefined) ?? { kind: 'memory' }),
      ...(p.STELLA_BUS_NAMESPACE !== undefined ? { namespace: p.STELLA_BUS_NAMESPACE as string } : {}),
    },
    objectStore,
    auth: {
      jwks: jwks.kind === 'file' ? { kind: 'file', path: resolve(cwd, jwks.path) } : jwks,
      issuer: issuer ?? DEV_ISSUER,
      audience: p.STELLA_AUTH_AUDIENCE as string,
      maxTokenLifetimeSeconds: p.STELLA_AUTH_MAX_TOKEN_LIFETIME_SECONDS as number,
    },
    services,
    serviceSettings,
    workers: p.STELLA_WORKERS as number,
    logLevel: p.STELLA_LOG_LEVEL as LogLevel,
    logFormat: p.STELLA_LOG_FORMAT as LogFormat,
    signingKey: p.STELLA_SIGNING_KEY as string | undefined,
    tsaUrl: p.STELLA_TSA_URL as string | undefined,
    shutdownTimeoutMs: p.STELLA_SHUTDOWN_TIMEOUT_MS as number,
  });
}

/** `STELLA_SERVICES` against the registry: canonical (registry) order, no duplicates. */
function resolveServices(
  named: readonly string[] | undefined,
  catalogue: ServiceCatalogue,
  problems: ConfigProblemDetail[],
): string[] {
  const all = catalogue.map((s) => s.name);
  if (named === undefined) return all;
  const unknown = named.filter((n) => !all.includes(n));
  if (unknown.length) {
    problems.push({
      variable: 'STELLA_SERVICES',
      message: `unknown service(s) ${unknown.join(', ')}; expected ${all.length ? all.join(', ') : '(no service is registered)'}`,
    });
  }
  return all.filter((n) => named.includes(n));
}

/** The CLI client settings; throws `CONFIG_INVALID` listing every problem. */
export function loadClientConfig(env: Record<string, string | undefined>): ClientConfig {
  const problems: ConfigProblemDetail[] = [];
  const { values } = parseAll(env, 'cli', problems);
  if (problems.length) fail(problems);
  return deepFreeze({
    server: values.STELLA_SERVER as string,
    token: values.STELLA_TOKEN as string | undefined,
    tenant: values.STELLA_TENANT as string | undefined,
  });
}

/** The data directory the CLI and server agree on: `STELLA_DATA_DIR` or `./.stella`, absolute. */
export function resolveDataDir(env: Record<string, string | undefined>, cwd: string = process.cwd()): string {
  const raw = env.STELLA_DATA_DIR;
  return resolve(cwd, raw === undefined || raw.trim() === '' ? DEFAULT_DATA_DIR : raw.trim());
}

/**
 * A copy safe to log: passwords in URLs and S3 credentials replaced by `***`.
 */
export function redactConfig(config: StellaConfig): unknown {
  return {
    ...config,
    database:
      config.database.kind === 'postgres'
        ? { ...config.database, url: redactUrl(config.database.url) }
        : config.database,
    objectStore:
      config.objectStore.kind === 's3' && config.objectStore.credentials
        ? { ...config.objectStore, credentials: { accessKeyId: '***', secretAccessKey: '***' } }
        : config.objectStore,
    bus: config.bus.kind === 'redis' ? { ...config.bus, url: redactUrl(config.bus.url) } : config.bus,
    signingKey: config.signingKey?.replace(/pin-value=[^&;]*/g, 'pin-value=***'),
  };
}

/**
 * `STELLA_*` variables in `env` that the table does not know — almost always typos
 * (`STELLA_HTTP_PROT`). Not an error (tooling variables such as `STELLA_DEBUG` or
 * `STELLA_TEST_*` share the prefix); the composition root logs them as a warning.
 */
export function unknownVariables(env: Record<string, string | undefined>, services: ServiceCatalogue = []): string[] {
  const known = new Set<string>([
    ...CONFIG_VARIABLES.map((v) => v.name),
    ...services.flatMap((s) => (s.variables ?? []).map((v) => v.name)),
  ]);
  const tooling = /^STELLA_(DEBUG|TEST_.*|DATASETS_DIR)$/;
  return Object.keys(env)
    .filter((k) => k.startsWith('STELLA_') && !known.has(k) && !tooling.test(k))
    .sort();
}

/**
 * Maps `stella serve` option values (`{port: '0', services: 'export-center'}`) onto the variables
 * they override, using each variable's `flag`, ready for `loadConfig(env, overrides)`.
 */
export function flagOverrides(values: Record<string, unknown>): ConfigInput {
  const out: Record<string, string> = {};
  for (const v of CONFIG_VARIABLES) {
    if (!('flag' in v) || !v.flag) continue;
    const val = values[v.flag.replace(/^--/, '')];
    if (typeof val === 'string') out[v.name] = val;
  }
  return out as ConfigInput;
}
