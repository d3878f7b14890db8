import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign as signBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, base64url, type JSONWebKeySet } from 'jose';
import { isStellaError } from '@stella/core/errors';
import { assertRejectsStella, tempDir } from '@stella/testkit';
import {
  ROLES,
  SCOPES,
  createTokenVerifier,
  createTokenVerifierFromConfig,
  loadDevIssuer,
  loadOrCreateDevIssuer,
  parseScopeList,
  parseTtl,
  readJwksFile,
  type DevIssuer,
  type TokenVerifier,
} from '@stella/platform/auth';

/** The coded rejection, and the verifier's `details.reason` when given. */
async function rejectsWith(p: Promise<unknown>, code: string, reason?: string): Promise<void> {
  const err = await assertRejectsStella(p, code);
  if (reason !== undefined) assert.equal((err.details as { reason?: string }).reason, reason);
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let dev: DevIssuer;
let verifier: TokenVerifier;

before(async () => {
  dir = await tempDir('stella-auth-');
  dev = await loadOrCreateDevIssuer(dir.path);
  verifier = createTokenVerifier({ keys: dev.jwks, issuer: dev.issuer, audience: dev.audience });
});
after(() => dir.cleanup());

describe('dev issuer', () => {
  test('stores an Ed25519 key 0600 in a 0700 directory, with the public JWKS beside it', async () => {
    const d = await stat(dev.dir);
    assert.equal(d.mode & 0o777, 0o700);
    const priv = await stat(join(dev.dir, 'private.jwk.json'));
    assert.equal(priv.mode & 0o777, 0o600);
    const jwks = JSON.parse(await readFile(join(dev.dir, 'jwks.json'), 'utf8')) as JSONWebKeySet;
    assert.deepEqual(jwks, dev.jwks);
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kty, 'OKP');
    assert.equal(jwks.keys[0]!.crv, 'Ed25519');
    assert.equal(jwks.keys[0]!.kid, dev.kid);
    assert.ok(!('d' in jwks.keys[0]!), 'public JWKS must not hold the private key');
    assert.equal(dev.issuer, 'urn:stella:dev-issuer');
    assert.equal(dev.audience, 'stella');
  });

  test('reloading keeps the key; concurrent first starts agree on one key', async () => {
    assert.equal((await loadOrCreateDevIssuer(dir.path)).kid, dev.kid);
    const fresh = await tempDir('stella-auth-race-');
    try {
      const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevIssuer(fresh.path)));
      assert.equal(new Set(all.map((i) => i.kid)).size, 1);
      // A token from one instance verifies with another's keys.
      const tok = await all[0]!.mint({ tenant: 't1', scopes: ['timeline:read'] });
      const v = createTokenVerifier({ keys: all[7]!.jwks, issuer: all[7]!.issuer, audience: all[7]!.audience });
      assert.equal((await v.verify(tok)).tenant, 't1');
    } finally {
      await fresh.cleanup();
    }
  });

  test('loadDevIssuer finds an existing issuer and creates nothing where there is none', async () => {
    assert.equal((await loadDevIssuer(dir.path))?.kid, dev.kid);
    const empty = await tempDir('stella-auth-none-');
    try {
      assert.equal(await loadDevIssuer(empty.path), undefined);
      assert.deepEqual(await readdir(empty.path), []);
    } finally {
      await empty.cleanup();
    }
  });

  test('refuses a world-readable or corrupt key file', async () => {
    const d = await tempDir('stella-auth-bad-');
    try {
      const i = await loadOrCreateDevIssuer(d.path);
      const file = join(i.dir, 'private.jwk.json');
      await chmod(file, 0o644);
      await rejectsWith(loadOrCreateDevIssuer(d.path), 'KEY_INVALID');
      await chmod(file, 0o600);
      await writeFile(file, '{"kty":"EC","crv":"P-256"}');
      await rejectsWith(loadOrCreateDevIssuer(d.path), 'KEY_INVALID');
      await writeFile(file, 'not json');
      await rejectsWith(loadOrCreateDevIssuer(d.path), 'KEY_INVALID');
      // Duplicate members (strict parser): which "d" would be the key?
      const good = JSON.parse(await readFile(join(dir.path, 'dev-issuer', 'private.jwk.json'), 'utf8'));
      await writeFile(file, JSON.stringify(good).replace(/}$/, `,"d":"${good.d}"}`));
      await rejectsWith(loadOrCreateDevIssuer(d.path), 'KEY_INVALID');
    } finally {
      await d.cleanup();
    }
  });

  test('mint validates tenant, scopes, subject and ttl', async () => {
    await rejectsWith(dev.mint({ tenant: '../etc', scopes: ['timeline:read'] }), 'TENANT_INVALID');
    await rejectsWith(dev.mint({ tenant: 'acme', scopes: ['timeline:delete'] }), 'VALIDATION_FAILED');
    await rejectsWith(dev.mint({ tenant: 'acme', scopes: [] }), 'VALIDATION_FAILED');
    await rejectsWith(dev.mint({ tenant: 'acme', scopes: ['timeline:read'], subject: '' }), 'VALIDATION_FAILED');
    await rejectsWith(dev.mint({ tenant: 'acme', scopes: ['timeline:read'], ttlSeconds: 0 }), 'VALIDATION_FAILED');
  });
});

describe('token verification', () => {
  test('a minted token verifies to its principal', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tok = await dev.mint({
      tenant: 'acme',
      subject: 'alice',
      scopes: ['evidence:read', 'export:run'],
      ttlSeconds: 600,
      now,
    });
    const p = await verifier.verify(tok);
    assert.equal(p.tenant, 'acme');
    assert.equal(p.subject, 'alice');
    assert.deepEqual(p.scopes, ['evidence:read', 'export:run']);
    assert.equal(p.issuer, 'urn:stella:dev-issuer');
    assert.equal(p.expiresAt, now + 600);
    assert.ok(p.tokenId && p.tokenId.length > 10);
  });

  test('expired tokens → AUTH_TOKEN_EXPIRED; within clock tolerance they pass', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejectsWith(
      verifier.verify(await dev.mint({ tenant: 'acme', scopes: ['timeline:read'], ttlSeconds: 60, now: now - 3600 })),
      'AUTH_TOKEN_EXPIRED',
    );
    const justExpired = await dev.mint({ tenant: 'acme', scopes: ['timeline:read'], ttlSeconds: 60, now: now - 70 });
    assert.equal((await verifier.verify(justExpired)).tenant, 'acme');
    const strict = createTokenVerifier({
      keys: dev.jwks,
      issuer: dev.issuer,
      audience: dev.audience,
      clockToleranceSec: 0,
    });
    await rejectsWith(strict.verify(justExpired), 'AUTH_TOKEN_EXPIRED');
  });

  test('forged: signed by another key with the same kid → AUTH_INVALID_TOKEN', async () => {
    const other = await tempDir('stella-auth-other-');
    try {
      const evil = await loadOrCreateDevIssuer(other.path);
      await rejectsWith(
        verifier.verify(await evil.mint({ tenant: 'acme', scopes: ['timeline:read'] })),
        'AUTH_INVALID_TOKEN',
        'kid',
      );
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const forged = await new SignJWT({ tenant: 'acme', scope: 'timeline:read' })
        .setProtectedHeader({ alg: 'EdDSA', kid: dev.kid })
        .setIssuer(dev.issuer)
        .setAudience(dev.audience)
        .setSubject('mallory')
        .setExpirationTime('1h')
        .sign(privateKey);
      await rejectsWith(verifier.verify(forged), 'AUTH_INVALID_TOKEN', 'signature');
    } finally {
      await other.cleanup();
    }
  });

  test('tampered payload → AUTH_INVALID_TOKEN', async () => {
    const tok = await dev.mint({ tenant: 'acme', scopes: ['timeline:read'] });
    const [h, p, s] = tok.split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    claims.tenant = 'other';
    claims.scope = SCOPES.join(' ');
    await rejectsWith(
      verifier.verify(`${h}.${base64url.encode(JSON.stringify(claims))}.${s}`),
      'AUTH_INVALID_TOKEN',
      'signature',
    );
  });

  test('alg none and HS256 (public key as HMAC secret) are rejected', async () => {
    const none = new UnsecuredJWT({ tenant: 'acme', scope: 'timeline:read' })
      .setIssuer(dev.issuer)
      .setAudience(dev.audience)
      .setSubject('x')
      .setExpirationTime('1h')
      .encode();
    await rejectsWith(verifier.verify(none), 'AUTH_INVALID_TOKEN');
    const secret = new TextEncoder().encode(JSON.stringify(dev.jwks.keys[0]));
    const hs = await new SignJWT({ tenant: 'acme', scope: 'timeline:read' })
      .setProtectedHeader({ alg: 'HS256', kid: dev.kid })
      .setIssuer(dev.issuer)
      .setAudience(dev.audience)
      .setSubject('x')
      .setExpirationTime('1h')
      .sign(secret);
    await rejectsWith(verifier.verify(hs), 'AUTH_INVALID_TOKEN', 'alg');
  });

  test('wrong audience or issuer, missing claims, bad typ → AUTH_INVALID_TOKEN', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'es1', alg: 'ES256' };
    const v = createTokenVerifier({ keys: { keys: [jwk] }, issuer: 'https://idp.example/', audience: 'stella' });
    const sign = (
      claims: Record<string, unknown>,
      opts: { iss?: string; aud?: string; sub?: string | null; typ?: string } = {},
    ) => {
      let j = new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'es1', ...(opts.typ ? { typ: opts.typ } : {}) })
        .setIssuer(opts.iss ?? 'https://idp.example/')
        .setAudience(opts.aud ?? 'stella')
        .setExpirationTime('5m');
      if (opts.sub !== null) j = j.setSubject(opts.sub ?? 'svc');
      return j.sign(privateKey);
    };
    // ES256 from an external issuer is accepted.
    assert.deepEqual((await v.verify(await sign({ tenant: 'acme', scope: 'timeline:read openid' }))).scopes, [
      'timeline:read',
      'openid',
    ]);
    await rejectsWith(
      v.verify(await sign({ tenant: 'acme', scope: 'x' }, { aud: 'other' })),
      'AUTH_INVALID_TOKEN',
      'claim:aud',
    );
    await rejectsWith(
      v.verify(await sign({ tenant: 'acme', scope: 'x' }, { iss: 'https://evil.example/' })),
      'AUTH_INVALID_TOKEN',
      'claim:iss',
    );
    await rejectsWith(v.verify(await sign({ scope: 'x' })), 'AUTH_INVALID_TOKEN', 'claim:tenant');
    await rejectsWith(v.verify(await sign({ tenant: 'acme' })), 'AUTH_INVALID_TOKEN', 'claim:scope');
    await rejectsWith(
      v.verify(await sign({ tenant: 'acme', scope: 'x' }, { sub: null })),
      'AUTH_INVALID_TOKEN',
      'claim:sub',
    );
    await rejectsWith(v.verify(await sign({ tenant: 'a/b', scope: 'x' })), 'AUTH_INVALID_TOKEN', 'claim:tenant');
    await rejectsWith(v.verify(await sign({ tenant: 'acme', scope: ['x'] })), 'AUTH_INVALID_TOKEN', 'claim:scope');
    await rejectsWith(
      v.verify(await sign({ tenant: 'acme', scope: 'x' }, { typ: 'dpop+jwt' })),
      'AUTH_INVALID_TOKEN',
      'typ',
    );
    for (const junk of ['', 'abc', 'a.b.c', 'e30.e30.', '...']) await rejectsWith(v.verify(junk), 'AUTH_INVALID_TOKEN');
  });

  test('property: arbitrary strings never verify and always fail with AUTH_INVALID_TOKEN', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.')),
        ),
        async (s) => {
          await rejectsWith(verifier.verify(s), 'AUTH_INVALID_TOKEN');
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** A compact JWS over exactly these header and claims texts, signed with the dev issuer's key. */
async function devSigned(header: string, claims: string): Promise<string> {
  const jwk = JSON.parse(await readFile(join(dev.dir, 'private.jwk.json'), 'utf8')) as Record<string, string>;
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(claims).toString('base64url')}`;
  const sig = signBytes(null, Buffer.from(input), createPrivateKey({ key: jwk, format: 'jwk' }));
  return `${input}.${sig.toString('base64url')}`;
}

describe('hostile tokens (issue 19 finding 5)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const header = () => JSON.stringify({ alg: 'EdDSA', kid: dev.kid, typ: 'JWT' });
  const claims = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      iss: dev.issuer,
      aud: dev.audience,
      sub: 'mallory',
      tenant: 'acme',
      scope: 'timeline:read',
      iat: now(),
      exp: now() + 600,
      ...extra,
    });

  test('the hand-signing helper makes tokens that verify (so each refusal below is about its one change)', async () => {
    assert.equal((await verifier.verify(await devSigned(header(), claims()))).subject, 'mallory');
  });

  test('duplicate members in the JOSE header or the claims → AUTH_INVALID_TOKEN', async () => {
    const dupAlg = `{"alg":"EdDSA","kid":${JSON.stringify(dev.kid)},"alg":"EdDSA"}`;
    await rejectsWith(verifier.verify(await devSigned(dupAlg, claims())), 'AUTH_INVALID_TOKEN', 'header');
    const dupTenant = claims().replace(/}$/, ',"tenant":"globex"}');
    await rejectsWith(verifier.verify(await devSigned(header(), dupTenant)), 'AUTH_INVALID_TOKEN', 'claims');
    // Other non-I-JSON: a lone surrogate in a claim.
    const lone = claims().replace('"mallory"', '"\\ud800"');
    await rejectsWith(verifier.verify(await devSigned(header(), lone)), 'AUTH_INVALID_TOKEN', 'claims');
  });

  test('exp = 1e16, a ten-year token, or a lifetime over the maximum → AUTH_INVALID_TOKEN (lifetime)', async () => {
    await rejectsWith(
      verifier.verify(await devSigned(header(), claims({ exp: 1e16 }))),
      'AUTH_INVALID_TOKEN',
      'lifetime',
    );
    const noIat = JSON.stringify({ ...JSON.parse(claims({ exp: 1e16 })), iat: undefined });
    await rejectsWith(verifier.verify(await devSigned(header(), noIat)), 'AUTH_INVALID_TOKEN', 'lifetime');
    const tenYears = claims({ exp: now() + 10 * 366 * 86400 });
    await rejectsWith(verifier.verify(await devSigned(header(), tenYears)), 'AUTH_INVALID_TOKEN', 'lifetime');
    const dayAndASecond = await dev.mint({ tenant: 'acme', scopes: ['timeline:read'], ttlSeconds: 86401 });
    await rejectsWith(verifier.verify(dayAndASecond), 'AUTH_INVALID_TOKEN', 'lifetime');
    // The dev banner's 12 h token and a full day are fine; the maximum is configurable.
    await verifier.verify(await dev.mint({ tenant: 'acme', scopes: ['timeline:read'], ttlSeconds: 12 * 3600 }));
    await verifier.verify(await dev.mint({ tenant: 'acme', scopes: ['timeline:read'], ttlSeconds: 86400 }));
    const week = createTokenVerifier({ ...verifierKeys(), maxTokenLifetimeSeconds: 7 * 86400 });
    assert.equal((await week.verify(dayAndASecond)).tenant, 'acme');
  });

  test('iat in the future (beyond the clock skew) or after exp → AUTH_INVALID_TOKEN (claim:iat)', async () => {
    const future = claims({ iat: now() + 3600, exp: now() + 7200 });
    await rejectsWith(verifier.verify(await devSigned(header(), future)), 'AUTH_INVALID_TOKEN', 'claim:iat');
    // Within the 30 s skew, but after exp.
    const inverted = claims({ iat: now() + 20, exp: now() + 10 });
    await rejectsWith(verifier.verify(await devSigned(header(), inverted)), 'AUTH_INVALID_TOKEN', 'claim:iat');
    // A small skew is tolerated.
    await verifier.verify(await devSigned(header(), claims({ iat: now() + 5 })));
  });

  test('what held stays held: embedded jwk, jku, hostile kid, crit, b64:false, nbf', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const attacker = await exportJWK(publicKey);
    const evil = (protectedHeader: Record<string, unknown>) =>
      new SignJWT(JSON.parse(claims()) as Record<string, unknown>)
        .setProtectedHeader({ alg: 'EdDSA', ...protectedHeader })
        .sign(privateKey);
    // The key is taken from our JWKS only, never from the token (RFC 8725 §3.10).
    await rejectsWith(verifier.verify(await evil({ jwk: attacker })), 'AUTH_INVALID_TOKEN');
    await rejectsWith(verifier.verify(await evil({ jku: 'http://127.0.0.1:9/jwks.json' })), 'AUTH_INVALID_TOKEN');
    for (const kid of ['../../../../etc/passwd', "' OR 1=1 --", dev.kid + '\u0000', 'x'.repeat(4096)])
      await rejectsWith(verifier.verify(await evil({ kid })), 'AUTH_INVALID_TOKEN');
    // Real key, but extensions we do not understand must make the token invalid (RFC 7515 §4.1.11).
    const crit = JSON.stringify({ alg: 'EdDSA', kid: dev.kid, crit: ['exp'], exp: 1 });
    await rejectsWith(verifier.verify(await devSigned(crit, claims())), 'AUTH_INVALID_TOKEN');
    const b64 = JSON.stringify({ alg: 'EdDSA', kid: dev.kid, b64: false, crit: ['b64'] });
    await rejectsWith(verifier.verify(await devSigned(b64, claims())), 'AUTH_INVALID_TOKEN');
    // Homoglyph (Cyrillic а) and control-character tenants in an otherwise valid token.
    for (const tenant of ['\u0430cme', 'ac\u0000me', 'acme\n'])
      await rejectsWith(
        verifier.verify(await devSigned(header(), claims({ tenant }))),
        'AUTH_INVALID_TOKEN',
        'claim:tenant',
      );
    const notYet = claims({ nbf: now() + 3600, exp: now() + 7200 });
    await rejectsWith(verifier.verify(await devSigned(header(), notYet)), 'AUTH_INVALID_TOKEN', 'claim:nbf');
  });
});

function verifierKeys() {
  return { keys: dev.jwks, issuer: dev.issuer, audience: dev.audience };
}

describe('JWKS sources', () => {
  test('a JWKS file verifies tokens; bad files are KEY_INVALID / KEY_NOT_FOUND', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const file = join(dir.path, 'jwks.json');
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }));
    const v = await createTokenVerifierFromConfig(
      { jwks: { kind: 'file', path: file }, issuer: 'corp-idp', audience: 'stella' },
      dir.path,
    );
    const tok = await new SignJWT({ tenant: 'acme', scope: 'export:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('corp-idp')
      .setAudience('stella')
      .setSubject('bob')
      .setExpirationTime('5m')
      .sign(privateKey);
    assert.equal((await v.verify(tok)).subject, 'bob');

    await rejectsWith(readJwksFile(join(dir.path, 'missing.json')), 'KEY_NOT_FOUND');
    for (const [name, text] of [
      ['notjson', '{'],
      ['nokeys', '{"keys":[]}'],
      ['wrong', '{"k":1}'],
      ['private', JSON.stringify({ keys: [await exportJWK(privateKey)] })],
      // Duplicate "keys": JSON.parse would trust the last list, another reader the first.
      ['duplicate', `{"keys":[],"keys":[${JSON.stringify(await exportJWK(publicKey))}]}`],
    ] as const) {
      await writeFile(join(dir.path, name), text);
      await rejectsWith(readJwksFile(join(dir.path, name)), 'KEY_INVALID');
    }
  });

  test('dev config uses the data dir issuer', async () => {
    const v = await createTokenVerifierFromConfig(
      { jwks: { kind: 'dev' }, issuer: 'urn:stella:dev-issuer', audience: 'stella' },
      dir.path,
    );
    assert.equal((await v.verify(await dev.mint({ tenant: 'acme', scopes: ['ops:incident'] }))).tenant, 'acme');
  });

  describe('a JWKS URL (createRemoteJWKSet) on loopback', () => {
    let server: Server;
    let url: string;
    let jwks: JSONWebKeySet;
    let hits = 0;
    let pk: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
    before(async () => {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      pk = privateKey;
      jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'remote-1', alg: 'EdDSA' }] };
      server = createServer((req, res) => {
        hits++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const addr = server.address() as { port: number };
      url = `http://127.0.0.1:${addr.port}/jwks.json`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    test('tokens verify against fetched keys (cached), and an unreachable JWKS is SERVICE_UNAVAILABLE', async () => {
      const v = await createTokenVerifierFromConfig(
        { jwks: { kind: 'url', url }, issuer: 'remote', audience: 'stella' },
        dir.path,
      );
      const mint = () =>
        new SignJWT({ tenant: 'acme', scope: 'timeline:read' })
          .setProtectedHeader({ alg: 'EdDSA', kid: 'remote-1' })
          .setIssuer('remote')
          .setAudience('stella')
          .setSubject('r')
          .setExpirationTime('5m')
          .sign(pk);
      assert.equal((await v.verify(await mint())).subject, 'r');
      assert.equal((await v.verify(await mint())).subject, 'r');
      assert.equal(hits, 1, 'JWKS is cached');

      // A port nobody listens on: the verifier cannot fetch keys — an outage, not the caller's fault.
      const v2 = createTokenVerifier({
        keys: new URL('http://127.0.0.1:1/jwks.json'),
        issuer: 'remote',
        audience: 'stella',
        fetchTimeoutMs: 1000,
      });
      await rejectsWith(v2.verify(await mint()), 'SERVICE_UNAVAILABLE');
    });
  });
});

describe('scopes, roles and ttl', () => {
  test('parseScopeList expands roles, dedupes, orders, and rejects unknown names', () => {
    assert.deepEqual(parseScopeList('viewer'), [...ROLES.viewer]);
    assert.deepEqual(parseScopeList('admin'), [...SCOPES]);
    assert.deepEqual(parseScopeList('export:run, timeline:read timeline:read'), ['timeline:read', 'export:run']);
    assert.ok(
      ROLES.viewer.every((s) => ROLES.operator.includes(s)) && ROLES.operator.every((s) => ROLES.admin.includes(s)),
    );
    assert.throws(
      () => parseScopeList('timeline:read evidence:destroy'),
      (e: unknown) => isStellaError(e, 'VALIDATION_FAILED') && /evidence:destroy/.test(e.message),
    );
    assert.throws(
      () => parseScopeList('  '),
      (e: unknown) => isStellaError(e, 'VALIDATION_FAILED'),
    );
    assert.throws(
      () => parseScopeList('__proto__'),
      (e: unknown) => isStellaError(e, 'VALIDATION_FAILED'),
    );
  });

  test('parseTtl', () => {
    assert.equal(parseTtl('90'), 90);
    assert.equal(parseTtl('30m'), 1800);
    assert.equal(parseTtl('1h'), 3600);
    assert.equal(parseTtl('7d'), 604800);
    for (const bad of ['0', '1y', '-1h', '1.5h', 'h', '', '367d', '1h30m']) {
      assert.throws(
        () => parseTtl(bad),
        (e: unknown) => isStellaError(e, 'VALIDATION_FAILED'),
        bad,
      );
    }
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          const n = parseTtl(s);
          assert.ok(Number.isSafeInteger(n) && n >= 1 && n <= 366 * 86400);
        } catch (e) {
          assert.ok(isStellaError(e, 'VALIDATION_FAILED'));
        }
      }),
    );
  });
});
