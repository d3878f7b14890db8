/**
 * The one table of `STELLA_*` variables (issue #2 item 2, DESIGN.md §6 "one config module that
 * validates all env at once"). Each entry carries its documentation (type, default, description)
 * and its parser; `loadConfig` runs every parser and `docs/config.md` is rendered from the same
 * entries, so the docs cannot drift from what the process accepts (a test checks the file).
 *
 * Parsers are pure: they turn one raw string into a typed value or throw {@link ConfigProblem}.
 * Cross-variable rules (e.g. S3 credentials only with an `s3://` store) live in `config.ts`.
 */
import { isAbsolute } from 'node:path';
import { TENANT_ID_PATTERN } from '../tenant/tenant-id.js';

/**
 * The Stella data dir when `STELLA_DATA_DIR` is unset, relative to the working directory: the one
 * default every command (`serve`, `migrate`, `auth token`) resolves the same way.
 */
export const DEFAULT_DATA_DIR = './.stella';

/** A problem with one variable; collected, never thrown out of `loadConfig` on its own. */
export class ConfigProblem extends Error {
  override readonly name = 'ConfigProblem';
}

/** Who reads the variable: the server process (`stella serve`) or the CLI client commands. */
export type VariableAudience = 'server' | 'cli';

export interface ConfigVariable<T = unknown> {
  readonly name: string;
  readonly audience: VariableAudience;
  /** Short type label for the docs, e.g. `integer 1–65535`. */
  readonly type: string;
  /** The default, parsed like a given value; `undefined` means "unset" (the description says what that means). */
  readonly default?: string;
  /** How the docs show a default that depends on other variables (e.g. a path under the data dir). */
  readonly defaultText?: string;
  readonly description: string;
  /** Values are never echoed in problems or logs. */
  readonly secret?: boolean;
  /** `stella serve` / `stella migrate` flag that overrides the variable, if any. */
  readonly flag?: string;
  /** How `--help` shows the flag's value, e.g. `<n>`. */
  readonly flagArg?: string;
  parse(raw: string): T;
}

function v<T>(spec: ConfigVariable<T>): ConfigVariable<T> {
  return spec;
}

/** Strict decimal integer within bounds (no `1e3`, no `0x10`, no trailing junk). */
export function parseInteger(raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new ConfigProblem(`expected an integer between ${min} and ${max}`);
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new ConfigProblem(`expected an integer between ${min} and ${max}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
};

/** Byte size: `1048576`, `512KiB`, `10MiB`, `1GiB` (binary) or `kB`/`MB`/`GB` (decimal). */
export function parseByteSize(raw: string, min: number, max: number): number {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(raw);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigProblem('expected a byte count such as 1048576, 512KiB or 10MiB');
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new ConfigProblem(`expected a size between ${min} and ${max} bytes`);
  return n;
}

function parseUrl(raw: string, protocols: readonly string[]): URL {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ConfigProblem(`expected a URL (${protocols.join(', ')})`);
  }
  if (!protocols.includes(u.protocol))
    throw new ConfigProblem(`unsupported scheme '${u.protocol}'; expected ${protocols.join(', ')}`);
  return u;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Where token signing keys come from (issue #2 item 6). */
export type JwksSource = { kind: 'dev' } | { kind: 'file'; path: string } | { kind: 'url'; url: string };

/**
 * The event bus to open. `memory` with a `broker` name shares one in-process broker between the
 * buses opened under that name (tests, several services in one process).
 */
export type BusConfig = (
  { kind: 'memory'; broker?: string } | { kind: 'nats'; servers: string[] } | { kind: 'redis'; url: string }
) & {
  /**
   * `STELLA_BUS_NAMESPACE`: a separate stream on a shared broker (NATS stream
   * `STELLA_EVENTS_<NS>` over `stella.<ns>.events.>`, Redis key `stella:<ns>:events`); absent:
   * the DESIGN.md §3 names.
   */
  namespace?: string;
};

export interface S3StoreConfig {
  kind: 's3';
  bucket: string;
  /** Custom endpoint (MinIO, Ceph, moto). */
  endpoint?: string;
  region: string;
  /** Path-style addressing (`endpoint/bucket/key`); default true, `forcePathStyle=false` for virtual-hosted. */
  forcePathStyle: boolean;
  /** WORM enforcement: `auto` (Object Lock when the bucket has it, else metadata), or forced. */
  worm: 'auto' | 'object-lock' | 'metadata';
  /** Object Lock retention mode for retained objects. */
  lockMode: 'COMPLIANCE' | 'GOVERNANCE';
}

export type ObjectStoreUri = { kind: 'file'; root: string } | S3StoreConfig;

/**
 * A service as configuration sees it: its name and its own variables. The registry of
 * `ServiceModule`s in `server/` is passed to `loadConfig` and `renderConfigMarkdown`; the
 * platform itself knows no service by name.
 */
export interface ServiceCatalogueEntry {
  readonly name: string;
  readonly summary?: string;
  readonly variables?: readonly ConfigVariable[];
}
export type ServiceCatalogue = readonly ServiceCatalogueEntry[];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
// S3 bucket naming rules (AWS "Bucket naming rules"): 3–63 chars, lowercase, digits, dots, hyphens.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ConfigProblem('contains a malformed %-escape');
  }
}

function nonEmpty(raw: string, what: string): string {
  const s = raw.trim();
  if (s === '') throw new ConfigProblem(`must not be empty (${what})`);
  return s;
}

/**
 * Parses `s3://bucket?endpoint=http://…&region=…[&worm=auto|object-lock|metadata]
 * [&lockMode=COMPLIANCE|GOVERNANCE][&forcePathStyle=true|false]` — the only grammar of the S3 store. A key
 * prefix inside the bucket is refused: the S3 driver addresses whole buckets (the bucket's Object
 * Lock configuration is what makes WORM server-enforced), so a prefix would be silently ignored.
 */
export function parseS3Uri(u: URL, raw: string): S3StoreConfig {
  // WHATWG URL parsing silently resolves `..` segments, so look at the text as written.
  const rawPath = raw.replace(/^s3:\/\/[^/?#]*/i, '').split(/[?#]/)[0] ?? '';
  if (rawPath.replace(/^\/+$/, '') !== '') {
    throw new ConfigProblem('a key prefix inside the bucket is not supported; use a dedicated bucket (s3://bucket?…)');
  }
  if (u.username || u.password)
    throw new ConfigProblem(
      'credentials do not belong in the URL (use STELLA_S3_ACCESS_KEY_ID / STELLA_S3_SECRET_ACCESS_KEY)',
    );
  const bucket = u.hostname;
  if (!BUCKET.test(bucket) || bucket.includes('..'))
    throw new ConfigProblem(`'${bucket}' is not a valid S3 bucket name`);
  const allowed = ['endpoint', 'region', 'worm', 'lockMode', 'forcePathStyle'];
  const unknown = [...u.searchParams.keys()].filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw new ConfigProblem(`unknown s3 parameter(s): ${unknown.join(', ')} (allowed: ${allowed.join(', ')})`);
  const oneOf = <T extends string>(name: string, values: readonly T[], dflt: T): T => {
    const got = u.searchParams.get(name) ?? dflt;
    if (!(values as readonly string[]).includes(got))
      throw new ConfigProblem(`s3 parameter ${name} must be one of ${values.join(', ')}`);
    return got as T;
  };
  const worm = oneOf('worm', ['auto', 'object-lock', 'metadata'] as const, 'auto');
  const lockMode = oneOf('lockMode', ['COMPLIANCE', 'GOVERNANCE'] as const, 'COMPLIANCE');
  const forcePathStyle = oneOf('forcePathStyle', ['true', 'false'] as const, 'true') === 'true';
  let endpoint: string | undefined;
  const ep = u.searchParams.get('endpoint');
  if (ep !== null) {
    const e = parseUrl(ep, ['http:', 'https:']);
    if (e.pathname !== '/' || e.search)
      throw new ConfigProblem('the s3 endpoint must be scheme://host[:port] without a path');
    endpoint = e.origin;
  }
  const region = u.searchParams.get('region') ?? 'us-east-1';
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigProblem(`'${region}' is not a valid region`);
  return { kind: 's3', bucket, ...(endpoint ? { endpoint } : {}), region, forcePathStyle, worm, lockMode };
}

/**
 * Parses `STELLA_OBJECT_STORE`: `file:///abs/path` or an `s3://` URI ({@link parseS3Uri}).
 */
export function parseObjectStoreUri(raw: string): ObjectStoreUri {
  const s = nonEmpty(raw, 'URI');
  const u = parseUrl(s, ['file:', 's3:']);
  if (u.protocol === 's3:') return parseS3Uri(u, s);
  if (u.hostname !== '' && u.hostname !== 'localhost')
    throw new ConfigProblem('file: URIs must be local (file:///abs/path)');
  if (u.search !== '' || u.hash !== '') throw new ConfigProblem('file: URIs take no query or fragment');
  const root = decode(u.pathname);
  if (!isAbsolute(root) || root === '/')
    throw new ConfigProblem('file: URIs need an absolute directory other than / (file:///var/lib/stella/objects)');
  return { kind: 'file', root };
}

/** `STELLA_BUS_NAMESPACE`: one NATS subject token, also valid in a JetStream stream name. */
export function parseBusNamespace(raw: string): string {
  const s = raw.trim();
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(s))
    throw new ConfigProblem('expected lower-case letters, digits and -, starting with a letter or digit, up to 32');
  return s;
}

/**
 * Parses `STELLA_BUS_URL`: `memory:` (private in-process broker), `memory://<name>` (an
 * in-process broker shared by name), `nats://h:4222[,nats://h2:4222]` / `tls://…` (JetStream),
 * `redis://…` / `rediss://…` (Redis Streams). The adapters take the result as is.
 */
export function parseBusUrl(raw: string): BusConfig {
  const s = nonEmpty(raw, 'URL');
  if (s === 'memory:') return { kind: 'memory' };
  if (s.startsWith('memory://')) {
    const broker = s.slice('memory://'.length);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(broker))
      throw new ConfigProblem('memory:// needs a broker name (letters, digits, . _ -)');
    return { kind: 'memory', broker };
  }
  if (/^rediss?:/.test(s)) return { kind: 'redis', url: parseUrl(s, ['redis:', 'rediss:']).toString() };
  if (/^(nats|tls):/.test(s)) {
    const servers = s.split(',').map((p) => {
      const u = parseUrl(p, ['nats:', 'tls:']);
      if (!u.hostname) throw new ConfigProblem(`'${p}' has no host`);
      return p.trim();
    });
    return { kind: 'nats', servers };
  }
  throw new ConfigProblem('expected memory:, memory://<name>, nats://…, tls://…, redis://… or rediss://…');
}

/**
 * Defaults of the HTTP server timeouts (issue 19 finding 3). Node's own defaults are disabled by
 * Fastify (`requestTimeout: 0`), which lets a slow-body client hold a connection forever.
 */
export const HTTP_TIMEOUT_DEFAULTS = { requestTimeoutMs: 60_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000 };
/** Default longest accepted bearer-token lifetime (`exp - iat`): one day; dev tokens last 12 h. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 86_400;

/**
 * Every variable, in documentation order. Defaults that depend on another variable (paths under
 * `STELLA_DATA_DIR`) are resolved in `loadConfig`; the table documents them in words.
 */
export const CONFIG_VARIABLES = [
  v({
    name: 'STELLA_HTTP_HOST',
    audience: 'server',
    type: 'hostname or IP',
    default: '127.0.0.1',
    description: 'Address the HTTP server binds to. Use `0.0.0.0` or `::` to listen on every interface.',
    flag: '--host',
    flagArg: '<addr>',
    parse: (raw) => {
      const h = nonEmpty(raw, 'hostname or IP');
      if (!HOSTNAME.test(h) && !(h.includes(':') && IPV6.test(h)))
        throw new ConfigProblem(`'${h}' is not a hostname or IP address`);
      return h;
    },
  }),
  v({
    name: 'STELLA_HTTP_PORT',
    audience: 'server',
    type: 'integer 0–65535',
    default: '8080',
    description: 'TCP port of the HTTP server. `0` picks a free port (printed at start).',
    flag: '--port',
    flagArg: '<n>',
    parse: (raw) => parseInteger(raw, 0, 65535),
  }),
  v({
    name: 'STELLA_HTTP_REQUEST_TIMEOUT_MS',
    audience: 'server',
    type: 'integer 100–3600000',
    default: String(HTTP_TIMEOUT_DEFAULTS.requestTimeoutMs),
    description:
      'Longest time a client may take to send a whole request (headers and body); then it gets 408 `REQUEST_TIMEOUT` and the connection is closed. Raise it for large uploads over slow links.',
    parse: (raw) => parseInteger(raw, 100, 3_600_000),
  }),
  v({
    name: 'STELLA_HTTP_HEADERS_TIMEOUT_MS',
    audience: 'server',
    type: 'integer 100–600000',
    default: String(HTTP_TIMEOUT_DEFAULTS.headersTimeoutMs),
    description:
      'Longest time a client may take to send the request headers (408 `REQUEST_TIMEOUT` after it). At most `STELLA_HTTP_REQUEST_TIMEOUT_MS`.',
    parse: (raw) => parseInteger(raw, 100, 600_000),
  }),
  v({
    name: 'STELLA_HTTP_KEEP_ALIVE_TIMEOUT_MS',
    audience: 'server',
    type: 'integer 100–600000',
    default: String(HTTP_TIMEOUT_DEFAULTS.keepAliveTimeoutMs),
    description: 'How long an idle keep-alive connection is kept open after a response.',
    parse: (raw) => parseInteger(raw, 100, 600_000),
  }),
  v({
    name: 'STELLA_DATA_DIR',
    audience: 'server',
    type: 'path',
    default: DEFAULT_DATA_DIR,
    description:
      'Directory for embedded-mode state: PGlite database (`pgdata/`), file object store (`objects/`), dev signing key and dev token issuer (`dev-issuer/`). Relative paths resolve against the working directory. Also read by `stella auth token`.',
    flag: '--data-dir',
    flagArg: '<dir>',
    parse: (raw) => nonEmpty(raw, 'path'),
  }),
  v({
    name: 'STELLA_DATABASE_URL',
    audience: 'server',
    type: 'postgres:// URL',
    flag: '--database-url',
    flagArg: '<postgres://…>',
    description:
      'PostgreSQL connection string (`postgres://user:pass@host:5432/db?sslmode=…`). Unset: embedded PGlite in `$STELLA_DATA_DIR/pgdata`.',
    secret: true,
    parse: (raw) => {
      const u = parseUrl(raw, ['postgres:', 'postgresql:']);
      if (!u.hostname) throw new ConfigProblem('the database URL needs a host');
      return u.toString();
    },
  }),
  v({
    name: 'STELLA_DATABASE_POOL_MAX',
    audience: 'server',
    type: 'integer 1–1000',
    default: '10',
    description: 'Maximum connections in the `pg` pool per process (ignored for embedded PGlite, which has one).',
    parse: (raw) => parseInteger(raw, 1, 1000),
  }),
  v({
    name: 'STELLA_BUS_URL',
    audience: 'server',
    type: 'URL',
    default: 'memory:',
    description:
      'Event bus. `memory:` (or unset): in-process, single node only (`memory://<name>` shares one in-process broker by name). `nats://host:4222` (comma-separate several servers): NATS JetStream. `redis://host:6379` / `rediss://…`: Redis Streams.',
    parse: parseBusUrl,
  }),
  v({
    name: 'STELLA_BUS_NAMESPACE',
    audience: 'server',
    type: 'name',
    defaultText: '(none)',
    description:
      'Keeps this deployment on its own stream of a shared NATS or Redis (staging beside production, a test run): NATS stream `STELLA_EVENTS_<NAME>` over subjects `stella.<name>.events.>`, Redis stream `stella:<name>:events`. Unset: `STELLA_EVENTS` over `stella.events.>` and `stella:events` (DESIGN.md §3). Lower-case letters, digits and `-`, up to 32. Every process of a deployment, and `stella timeline publish --via bus`, must use the same.',
    parse: parseBusNamespace,
  }),
  v({
    name: 'STELLA_OBJECT_STORE',
    audience: 'server',
    type: 'URI',
    defaultText: 'file://$STELLA_DATA_DIR/objects',
    description:
      'Blob storage. `file:///abs/path`: local filesystem. `s3://bucket?endpoint=http://host:9000&region=us-east-1`: S3-compatible storage (a whole bucket; create it with Object Lock for server-enforced WORM), path-style addressing when `endpoint` is given (MinIO, Ceph, moto).',
    parse: parseObjectStoreUri,
  }),
  v({
    name: 'STELLA_S3_ACCESS_KEY_ID',
    audience: 'server',
    type: 'string',
    description:
      'S3 access key id; set together with `STELLA_S3_SECRET_ACCESS_KEY`. Unset: the AWS SDK default credential chain.',
    secret: true,
    parse: (raw) => nonEmpty(raw, 'access key id'),
  }),
  v({
    name: 'STELLA_S3_SECRET_ACCESS_KEY',
    audience: 'server',
    type: 'string',
    description: 'S3 secret access key; set together with `STELLA_S3_ACCESS_KEY_ID`.',
    secret: true,
    parse: (raw) => nonEmpty(raw, 'secret access key'),
  }),
  v({
    name: 'STELLA_AUTH_JWKS',
    audience: 'server',
    type: 'path or https:// URL',
    description:
      'Public keys that sign bearer tokens: a JWKS file path or an `https://` URL (plain `http://` only for loopback hosts). Unset: the embedded dev issuer in `$STELLA_DATA_DIR/dev-issuer/` (created on first start).',
    parse: (raw): JwksSource => {
      const s = nonEmpty(raw, 'path or URL');
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
        const u = parseUrl(s, ['https:', 'http:']);
        if (u.protocol === 'http:' && !isLoopbackHost(u.hostname))
          throw new ConfigProblem('a JWKS URL must use https:// (http:// is allowed only for loopback hosts)');
        return { kind: 'url', url: u.toString() };
      }
      return { kind: 'file', path: s };
    },
  }),
  v({
    name: 'STELLA_AUTH_ISSUER',
    audience: 'server',
    type: 'string',
    default: 'urn:stella:dev-issuer',
    description:
      'Required `iss` claim. Must be set when `STELLA_AUTH_JWKS` is set; with the dev issuer it can only be `urn:stella:dev-issuer`.',
    parse: (raw) => nonEmpty(raw, 'issuer'),
  }),
  v({
    name: 'STELLA_AUTH_AUDIENCE',
    audience: 'server',
    type: 'string',
    default: 'stella',
    description: 'Required `aud` claim of bearer tokens.',
    parse: (raw) => nonEmpty(raw, 'audience'),
  }),
  v({
    name: 'STELLA_AUTH_MAX_TOKEN_LIFETIME_SECONDS',
    audience: 'server',
    type: 'integer 60–31622400',
    default: String(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS),
    description:
      'Longest accepted bearer-token lifetime: `exp - iat` (or `exp` - now without `iat`). Longer-lived tokens get 401 `AUTH_INVALID_TOKEN`.',
    parse: (raw) => parseInteger(raw, 60, 366 * 86_400),
  }),
  v({
    name: 'STELLA_SERVICES',
    audience: 'server',
    type: 'comma list',
    defaultText: 'every service',
    description:
      'Services this process runs, comma-separated (default: every registered service; docs/config.md "Services" lists them).',
    flag: '--services',
    flagArg: '<a,b>',
    // Only the list's shape here; `loadConfig` checks the names against the service registry.
    parse: (raw): string[] => {
      const parts = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (parts.length === 0) throw new ConfigProblem('name at least one service');
      return parts;
    },
  }),
  v({
    name: 'STELLA_WORKERS',
    audience: 'server',
    type: 'integer 0–64',
    default: '1',
    description: 'Background job workers per process (export builds, outbox relay). `0` runs the HTTP API only.',
    flag: '--workers',
    flagArg: '<n>',
    parse: (raw) => parseInteger(raw, 0, 64),
  }),
  v({
    name: 'STELLA_BODY_LIMIT',
    audience: 'server',
    type: 'bytes',
    default: '1048576',
    description:
      'Largest accepted request body (JSON and uploads without their own limit), e.g. `1048576`, `512KiB`, `10MiB`. Larger bodies get 413 `PAYLOAD_TOO_LARGE`.',
    parse: (raw) => parseByteSize(raw, 1024, 1024 ** 3),
  }),
  v({
    name: 'STELLA_LOG_LEVEL',
    audience: 'server',
    type: LOG_LEVELS.join(' | '),
    default: 'info',
    description: 'Minimum level of the logs written to stderr.',
    flag: '--log-level',
    flagArg: '<level>',
    parse: (raw): LogLevel => {
      const s = raw.trim().toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(s))
        throw new ConfigProblem(`expected one of ${LOG_LEVELS.join(', ')}`);
      return s as LogLevel;
    },
  }),
  v({
    name: 'STELLA_LOG_FORMAT',
    audience: 'server',
    type: LOG_FORMATS.join(' | '),
    default: 'auto',
    description:
      'Format of the logs on stderr: `text` (one readable line per event), `json` (one JSON object per line, for collectors) or `auto` (text when stderr is a terminal, else JSON).',
    parse: (raw): LogFormat => {
      const s = raw.trim().toLowerCase();
      if (!(LOG_FORMATS as readonly string[]).includes(s))
        throw new ConfigProblem(`expected one of ${LOG_FORMATS.join(', ')}`);
      return s as LogFormat;
    },
  }),
  v({
    name: 'STELLA_SIGNING_KEY',
    audience: 'server',
    type: 'signer URI',
    description:
      'Key that signs bundles and exports: `file:/path/key.pem` or `pkcs11:token=…;object=…?module-path=…&pin-value=…` (RFC 7512). Unset: a dev Ed25519 key generated in `$STELLA_DATA_DIR`.',
    secret: true,
    parse: (raw) => {
      const s = nonEmpty(raw, 'signer URI');
      if (!/^(file|pkcs11):/.test(s)) throw new ConfigProblem('expected a file: or pkcs11: signer URI');
      return s;
    },
  }),
  v({
    name: 'STELLA_TSA_URL',
    audience: 'server',
    type: 'http(s) URL',
    description: 'RFC 3161 time-stamp authority. Unset: bundles are sealed without a `timestamp.tsr`.',
    parse: (raw) => parseUrl(raw, ['http:', 'https:']).toString(),
  }),
  v({
    name: 'STELLA_SHUTDOWN_TIMEOUT_MS',
    audience: 'server',
    type: 'integer 0–600000',
    default: '10000',
    description: 'On SIGTERM/SIGINT, how long to wait for in-flight requests and jobs before exiting anyway.',
    parse: (raw) => parseInteger(raw, 0, 600_000),
  }),
  v({
    name: 'STELLA_SERVER',
    audience: 'cli',
    type: 'http(s) URL',
    default: 'http://127.0.0.1:8080',
    description: 'Base URL of the server that online `stella` commands talk to.',
    parse: (raw) => {
      const u = parseUrl(raw, ['http:', 'https:']);
      return u.toString().replace(/\/+$/, '');
    },
  }),
  v({
    name: 'STELLA_TOKEN',
    audience: 'cli',
    type: 'JWT',
    description: 'Bearer token sent by online `stella` commands (mint a dev one with `stella auth token`).',
    secret: true,
    parse: (raw) => {
      const s = nonEmpty(raw, 'JWT');
      if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s))
        throw new ConfigProblem('expected a compact JWT (header.payload.signature)');
      return s;
    },
  }),
  v({
    name: 'STELLA_TENANT',
    audience: 'cli',
    type: 'tenant id',
    description: 'Tenant sent as `X-Stella-Tenant` by online `stella` commands.',
    parse: (raw) => {
      const s = raw.trim();
      if (!TENANT_ID_PATTERN.test(s))
        throw new ConfigProblem(`expected a tenant id matching ${TENANT_ID_PATTERN.source}`);
      return s;
    },
  }),
] as const;

/** Names of every documented variable. */
export type ConfigVariableName = (typeof CONFIG_VARIABLES)[number]['name'];
