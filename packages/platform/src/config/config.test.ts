import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StellaError, isStellaError } from '@stella/core/errors';
import {
  CONFIG_VARIABLES,
  ConfigProblem,
  loadClientConfig,
  loadConfig,
  parseByteSize,
  parseInteger,
  redactConfig,
  redactUrl,
  resolveDataDir,
  unknownVariables,
  flagOverrides,
  type ConfigProblemDetail,
} from '@stella/platform/config';

const CWD = '/srv/stella';
// The shape of the server's service registry (server/src/service-registry.ts) as config sees it.
const SERVICES = [{ name: 'evidence-locker' }, { name: 'export-center' }, { name: 'timeline-indexer' }];

function problemsOf(fn: () => unknown): ConfigProblemDetail[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isStellaError(err, 'CONFIG_INVALID'), `expected CONFIG_INVALID, got ${String(err)}`);
    return (err.details as { problems: ConfigProblemDetail[] }).problems;
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  test('empty environment gives the documented embedded defaults, deeply frozen', () => {
    const c = loadConfig({}, {}, { cwd: CWD, services: SERVICES });
    assert.deepEqual(c.http, {
      host: '127.0.0.1',
      port: 8080,
      bodyLimit: 1048576,
      requestTimeoutMs: 60_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
    });
    assert.equal(c.dataDir, '/srv/stella/.stella');
    // The Stella data dir itself: openDb finds the cluster in it (pgliteClusterDir), for every command.
    assert.deepEqual(c.database, { kind: 'pglite', dataDir: '/srv/stella/.stella' });
    assert.deepEqual(c.bus, { kind: 'memory' });
    assert.deepEqual(c.objectStore, { kind: 'file', root: '/srv/stella/.stella/objects' });
    assert.deepEqual(c.auth, {
      jwks: { kind: 'dev' },
      issuer: 'urn:stella:dev-issuer',
      audience: 'stella',
      maxTokenLifetimeSeconds: 86_400,
    });
    assert.deepEqual(c.services, ['evidence-locker', 'export-center', 'timeline-indexer']);
    assert.equal(c.workers, 1);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.signingKey, undefined);
    assert.equal(c.tsaUrl, undefined);
    assert.equal(c.shutdownTimeoutMs, 10000);
    assert.ok(
      Object.isFrozen(c) && Object.isFrozen(c.http) && Object.isFrozen(c.services) && Object.isFrozen(c.auth.jwks),
    );
    assert.throws(() => {
      (c.http as { port: number }).port = 1;
    }, TypeError);
  });

  test('a production environment is parsed into typed values', () => {
    const c = loadConfig(
      {
        STELLA_HTTP_HOST: '0.0.0.0',
        STELLA_HTTP_PORT: '9090',
        STELLA_DATA_DIR: '/var/lib/stella',
        STELLA_DATABASE_URL: 'postgres://app:s3cret@db.internal:5432/stella?sslmode=require',
        STELLA_DATABASE_POOL_MAX: '25',
        STELLA_BUS_URL: 'nats://n1:4222,nats://n2:4222',
        STELLA_OBJECT_STORE: 's3://evidence-bucket?endpoint=http://127.0.0.1:9000&region=eu-central-1',
        STELLA_S3_ACCESS_KEY_ID: 'AKIA',
        STELLA_S3_SECRET_ACCESS_KEY: 'shh',
        STELLA_AUTH_JWKS: 'https://idp.example/jwks.json',
        STELLA_AUTH_ISSUER: 'https://idp.example/',
        STELLA_AUTH_AUDIENCE: 'stella-prod',
        STELLA_SERVICES: 'timeline-indexer, export-center,export-center',
        STELLA_WORKERS: '4',
        STELLA_BODY_LIMIT: '10MiB',
        STELLA_LOG_LEVEL: 'WARN',
        STELLA_SIGNING_KEY:
          'pkcs11:token=stella;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234',
        STELLA_TSA_URL: 'http://tsa.internal/tsr',
        STELLA_SHUTDOWN_TIMEOUT_MS: '30000',
        STELLA_HTTP_REQUEST_TIMEOUT_MS: '120000',
        STELLA_HTTP_HEADERS_TIMEOUT_MS: '5000',
        STELLA_HTTP_KEEP_ALIVE_TIMEOUT_MS: '2000',
        STELLA_AUTH_MAX_TOKEN_LIFETIME_SECONDS: '3600',
      },
      {},
      { cwd: CWD, services: SERVICES },
    );
    assert.deepEqual(c.http, {
      host: '0.0.0.0',
      port: 9090,
      bodyLimit: 10 * 1024 * 1024,
      requestTimeoutMs: 120_000,
      headersTimeoutMs: 5_000,
      keepAliveTimeoutMs: 2_000,
    });
    assert.deepEqual(c.database, {
      kind: 'postgres',
      url: 'postgres://app:s3cret@db.internal:5432/stella?sslmode=require',
      poolMax: 25,
    });
    assert.deepEqual(c.bus, { kind: 'nats', servers: ['nats://n1:4222', 'nats://n2:4222'] });
    assert.deepEqual(c.objectStore, {
      kind: 's3',
      bucket: 'evidence-bucket',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-central-1',
      forcePathStyle: true,
      worm: 'auto',
      lockMode: 'COMPLIANCE',
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 'shh' },
    });
    assert.deepEqual(c.auth, {
      jwks: { kind: 'url', url: 'https://idp.example/jwks.json' },
      issuer: 'https://idp.example/',
      audience: 'stella-prod',
      maxTokenLifetimeSeconds: 3600,
    });
    // Canonical order, deduplicated.
    assert.deepEqual(c.services, ['export-center', 'timeline-indexer']);
    assert.equal(c.workers, 4);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.tsaUrl, 'http://tsa.internal/tsr');
    assert.equal(c.shutdownTimeoutMs, 30000);

    const safe = JSON.stringify(redactConfig(c));
    for (const secret of ['s3cret', 'shh', 'AKIA', 'pin-value=1234'])
      assert.ok(!safe.includes(secret), `redacted config leaks ${secret}`);
  });

  test('every problem is listed at once, in the error details and the message', () => {
    const problems = problemsOf(() =>
      loadConfig({
        STELLA_HTTP_PORT: 'http',
        STELLA_HTTP_HOST: 'bad host!',
        STELLA_BUS_URL: 'kafka://k:9092',
        STELLA_SERVICES: 'export-center,billing',
        STELLA_WORKERS: '-1',
        STELLA_BODY_LIMIT: '1e6',
        STELLA_LOG_LEVEL: 'loud',
        STELLA_SIGNING_KEY: 'vault:secret/key',
        STELLA_TSA_URL: 'ftp://tsa',
        STELLA_SHUTDOWN_TIMEOUT_MS: '10s',
        STELLA_OBJECT_STORE: 's3://Bad_Bucket',
        STELLA_DATABASE_URL: 'mysql://root:pw@db/x',
        STELLA_AUTH_JWKS: 'http://idp.example/jwks.json',
      }),
    );
    const vars = problems.map((p) => p.variable).sort();
    // A variable that failed to parse does not cascade into rules that depend on it.
    assert.deepEqual(vars, [
      'STELLA_AUTH_JWKS',
      'STELLA_BODY_LIMIT',
      'STELLA_BUS_URL',
      'STELLA_DATABASE_URL',
      'STELLA_HTTP_HOST',
      'STELLA_HTTP_PORT',
      'STELLA_LOG_LEVEL',
      'STELLA_OBJECT_STORE',
      'STELLA_SERVICES',
      'STELLA_SHUTDOWN_TIMEOUT_MS',
      'STELLA_SIGNING_KEY',
      'STELLA_TSA_URL',
      'STELLA_WORKERS',
    ]);
    try {
      loadConfig({ STELLA_HTTP_PORT: '70000', STELLA_WORKERS: 'many' });
    } catch (err) {
      assert.ok(err instanceof StellaError);
      assert.match(err.message, /2 problems/);
      assert.match(err.message, /STELLA_HTTP_PORT: expected an integer between 0 and 65535 \(got '70000'\)/);
      assert.match(err.message, /STELLA_WORKERS: /);
      assert.equal(err.statusCode, 500);
    }
  });

  test('secret values are never echoed in problems', () => {
    const problems = problemsOf(() =>
      loadConfig({ STELLA_DATABASE_URL: 'mysql://root:hunter2@db/x', STELLA_SIGNING_KEY: 'vault:hunter3' }),
    );
    assert.equal(problems.length, 2);
    assert.ok(!JSON.stringify(problems).includes('hunter'));
  });

  test('cross-variable rules', () => {
    assert.deepEqual(
      problemsOf(() => loadConfig({ STELLA_S3_ACCESS_KEY_ID: 'k', STELLA_S3_SECRET_ACCESS_KEY: 's' })).map(
        (p) => p.variable,
      ),
      ['STELLA_S3_ACCESS_KEY_ID'],
    );
    assert.deepEqual(
      problemsOf(() => loadConfig({ STELLA_OBJECT_STORE: 's3://bucket-a', STELLA_S3_ACCESS_KEY_ID: 'k' })).map(
        (p) => p.variable,
      ),
      ['STELLA_S3_SECRET_ACCESS_KEY'],
    );
    assert.deepEqual(
      problemsOf(() => loadConfig({ STELLA_AUTH_JWKS: '/etc/stella/jwks.json' })).map((p) => p.variable),
      ['STELLA_AUTH_ISSUER'],
    );
    assert.deepEqual(
      problemsOf(() => loadConfig({ STELLA_AUTH_ISSUER: 'https://idp.example/' })).map((p) => p.variable),
      ['STELLA_AUTH_ISSUER'],
    );
    // Node refuses a headers timeout above the request timeout; so does the config, by name.
    const timeouts = problemsOf(() =>
      loadConfig({ STELLA_HTTP_REQUEST_TIMEOUT_MS: '5000', STELLA_HTTP_HEADERS_TIMEOUT_MS: '6000' }),
    );
    assert.deepEqual(
      timeouts.map((p) => p.variable),
      ['STELLA_HTTP_HEADERS_TIMEOUT_MS'],
    );
    assert.match(timeouts[0]!.message, /STELLA_HTTP_REQUEST_TIMEOUT_MS/);
    // The dev issuer spelled out is fine; a relative JWKS file resolves against cwd.
    assert.equal(loadConfig({ STELLA_AUTH_ISSUER: 'urn:stella:dev-issuer' }).auth.issuer, 'urn:stella:dev-issuer');
    const c = loadConfig({ STELLA_AUTH_JWKS: 'conf/jwks.json', STELLA_AUTH_ISSUER: 'iss' }, {}, { cwd: CWD });
    assert.deepEqual(c.auth.jwks, { kind: 'file', path: '/srv/stella/conf/jwks.json' });
    // s3 without credentials uses the SDK chain: no credentials object.
    assert.deepEqual(loadConfig({ STELLA_OBJECT_STORE: 's3://bucket-a' }).objectStore, {
      kind: 's3',
      bucket: 'bucket-a',
      region: 'us-east-1',
      forcePathStyle: true,
      worm: 'auto',
      lockMode: 'COMPLIANCE',
    });
  });

  test('overrides (stella serve flags) win over the environment and are validated the same way', () => {
    const c = loadConfig(
      { STELLA_HTTP_PORT: '8080', STELLA_SERVICES: 'evidence-locker' },
      { STELLA_HTTP_PORT: '0', STELLA_SERVICES: 'export-center' },
      { services: SERVICES },
    );
    assert.equal(c.http.port, 0);
    assert.deepEqual(c.services, ['export-center']);
    assert.deepEqual(
      problemsOf(() => loadConfig({}, { STELLA_WORKERS: '65' })).map((p) => p.variable),
      ['STELLA_WORKERS'],
    );
    // An empty value counts as unset.
    assert.equal(loadConfig({ STELLA_HTTP_PORT: '' }).http.port, 8080);
  });

  test('bus, object store and JWKS URI forms', () => {
    assert.deepEqual(loadConfig({ STELLA_BUS_URL: 'redis://:pw@127.0.0.1:6379/2' }).bus, {
      kind: 'redis',
      url: 'redis://:pw@127.0.0.1:6379/2',
    });
    assert.deepEqual(loadConfig({ STELLA_BUS_URL: 'memory:' }).bus, { kind: 'memory' });
    assert.deepEqual(loadConfig({ STELLA_BUS_URL: 'nats://n1:4222', STELLA_BUS_NAMESPACE: 'staging-2' }).bus, {
      kind: 'nats',
      servers: ['nats://n1:4222'],
      namespace: 'staging-2',
    });
    for (const bad of ['Upper', 'a.b', '-x', 'x'.repeat(33)])
      assert.throws(() => loadConfig({ STELLA_BUS_NAMESPACE: bad }), /STELLA_BUS_NAMESPACE/, bad);
    assert.deepEqual(loadConfig({ STELLA_OBJECT_STORE: 'file:///var/lib/stella/objects' }).objectStore, {
      kind: 'file',
      root: '/var/lib/stella/objects',
    });
    assert.deepEqual(
      loadConfig({ STELLA_AUTH_JWKS: 'http://127.0.0.1:8081/jwks', STELLA_AUTH_ISSUER: 'i' }).auth.jwks,
      { kind: 'url', url: 'http://127.0.0.1:8081/jwks' },
    );
    for (const bad of [
      'file:///',
      'file://remote-host/x',
      's3://b',
      's3://bucket-a?acl=public',
      's3://bucket-a/../x',
      's3://bucket-a/p/%2e%2e/x',
      's3://bucket-a/prefix', // a prefix inside the bucket is refused (the driver addresses whole buckets)
      's3://bucket-a?endpoint=http://h:9000/path',
      's3://bucket-a?region=EU WEST',
    ]) {
      assert.deepEqual(
        problemsOf(() => loadConfig({ STELLA_OBJECT_STORE: bad })).map((p) => p.variable),
        ['STELLA_OBJECT_STORE'],
        bad,
      );
    }
    for (const bad of ['nats://', 'redis', 'memory:x', 'nats://a:4222,kafka://b']) {
      assert.deepEqual(
        problemsOf(() => loadConfig({ STELLA_BUS_URL: bad })).map((p) => p.variable),
        ['STELLA_BUS_URL'],
        bad,
      );
    }
  });

  test('property: any values for every variable give a config or CONFIG_INVALID, never another error', () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(...names),
          fc.oneof(fc.string(), fc.constantFrom('0', '1', 'memory:', 's3://bucket-a', 'https://x/')),
        ),
        (env) => {
          try {
            const c = loadConfig(env, {}, { cwd: CWD });
            assert.ok(Object.isFrozen(c));
          } catch (err) {
            assert.ok(isStellaError(err, 'CONFIG_INVALID'), String(err));
            const problems = (err.details as { problems: ConfigProblemDetail[] }).problems;
            assert.ok(problems.length > 0 && problems.every((p) => names.includes(p.variable as never)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('variable parsers', () => {
  test('parseInteger accepts exactly the decimal integers in range', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 100_000 }), (n) => {
        const ok = n >= 0 && n <= 65535;
        if (ok) assert.equal(parseInteger(String(n), 0, 65535), n);
        else assert.throws(() => parseInteger(String(n), 0, 65535), ConfigProblem);
      }),
    );
    for (const bad of ['', ' ', '0x10', '1e3', '1.5', '12abc', '+1'])
      assert.throws(() => parseInteger(bad, 0, 100), ConfigProblem, bad);
  });

  test('parseByteSize units and bounds', () => {
    assert.equal(parseByteSize('2048', 1024, 2 ** 30), 2048);
    assert.equal(parseByteSize('512KiB', 1024, 2 ** 30), 524288);
    assert.equal(parseByteSize('10 MiB', 1024, 2 ** 30), 10485760);
    assert.equal(parseByteSize('1MB', 1024, 2 ** 30), 1_000_000);
    for (const bad of ['1e6', '10XB', '-1', '100', '2GiB'])
      assert.throws(() => parseByteSize(bad, 1024, 2 ** 30), ConfigProblem, bad);
  });

  test('every variable is documented with a type and a description, and parses its own default', () => {
    for (const v of CONFIG_VARIABLES) {
      assert.match(v.name, /^STELLA_[A-Z0-9_]+$/);
      assert.ok(v.type.length > 0 && v.description.length > 10, v.name);
      if (v.default !== undefined) assert.doesNotThrow(() => v.parse(v.default!), v.name);
    }
  });
});

describe('serve flags and typos', () => {
  test('flagOverrides maps stella serve options onto their variables', () => {
    const o = flagOverrides({
      port: '0',
      services: 'export-center',
      workers: '4',
      'data-dir': '/d',
      'log-level': 'debug',
      host: '::',
      json: true,
    });
    assert.deepEqual(o, {
      STELLA_HTTP_HOST: '::',
      STELLA_HTTP_PORT: '0',
      STELLA_DATA_DIR: '/d',
      STELLA_SERVICES: 'export-center',
      STELLA_WORKERS: '4',
      STELLA_LOG_LEVEL: 'debug',
    });
    const c = loadConfig({ STELLA_WORKERS: '1' }, o, { services: SERVICES });
    assert.equal(c.workers, 4);
    assert.equal(c.http.host, '::');
  });

  test('unknownVariables names likely typos, not tooling variables', () => {
    assert.deepEqual(
      unknownVariables({
        STELLA_HTTP_PROT: '1',
        STELLA_DEBUG: '1',
        STELLA_TEST_PG_URL: 'x',
        STELLA_HTTP_PORT: '1',
        PATH: '/bin',
      }),
      ['STELLA_HTTP_PROT'],
    );
  });
});

describe('client config and data dir', () => {
  test('CLI variables', () => {
    assert.deepEqual(loadClientConfig({}), { server: 'http://127.0.0.1:8080', token: undefined, tenant: undefined });
    assert.deepEqual(
      loadClientConfig({ STELLA_SERVER: 'https://stella.example/', STELLA_TOKEN: 'a.b.c', STELLA_TENANT: 'acme' }),
      {
        server: 'https://stella.example',
        token: 'a.b.c',
        tenant: 'acme',
      },
    );
    const problems = problemsOf(() =>
      loadClientConfig({ STELLA_SERVER: 'ftp://x', STELLA_TOKEN: 'not a jwt', STELLA_TENANT: '../etc' }),
    );
    assert.deepEqual(
      problems.map((p) => p.variable),
      ['STELLA_SERVER', 'STELLA_TOKEN', 'STELLA_TENANT'],
    );
    assert.ok(!JSON.stringify(problems).includes('not a jwt'), 'token value echoed');
  });

  test('resolveDataDir', () => {
    assert.equal(resolveDataDir({}, '/w'), '/w/.stella');
    assert.equal(resolveDataDir({ STELLA_DATA_DIR: 'data' }, '/w'), '/w/data');
    assert.equal(resolveDataDir({ STELLA_DATA_DIR: '/abs' }, '/w'), '/abs');
  });
});

describe('redactUrl (the one URL redaction of logs and errors)', () => {
  test('masks user info and credential parameters, keeps the rest, never throws', () => {
    const cases: [string, string][] = [
      ['postgres://app:s3cret@db:5432/x?sslmode=require', 'postgres://***@db:5432/x?sslmode=require'],
      ['postgres://db/x?user=a&password=s3cret&sslpassword=k3y', 'postgres://db/x?user=a&password=***&sslpassword=***'],
      ['nats://tok3n@n1:4222,nats://u:p4ss@n2:4222', 'nats://***@n1:4222,nats://***@n2:4222'],
      ['redis://:pw@127.0.0.1:6379/2', 'redis://***@127.0.0.1:6379/2'],
      ['not a url with //x:y@z', 'not a url with //***@z'],
      ['http://127.0.0.1:8080/path', 'http://127.0.0.1:8080/path'],
    ];
    for (const [input, want] of cases) assert.equal(redactUrl(input), want, input);
    fc.assert(
      fc.property(fc.webUrl({ withQueryParameters: true }), fc.string({ minLength: 1 }), (url, secret) => {
        const u = new URL(url);
        u.password = encodeURIComponent(`x${secret}`);
        u.username = 'user';
        return !redactUrl(u.toString()).includes(`:${u.password}@`);
      }),
    );
  });
});
