/**
 * Bearer token verification (DESIGN.md §3 "Auth", issue #2 item 6). Keys come from the embedded
 * dev issuer, a JWKS file, or a JWKS URL (`createRemoteJWKSet`, cached and rate-limited by jose).
 * Only EdDSA and ES256 are accepted — the allow-list is what defeats `alg: none` and HS256
 * key-confusion forgeries (RFC 8725 §2.1, §3.1). `iss`, `aud` and `exp` are always checked with
 * a small clock tolerance; `sub`, `tenant` and `scope` are required.
 *
 * Beyond what jose checks (issue 19 finding 5): the header and claims must be strict I-JSON (no
 * duplicate members, RFC 7515 §4 / RFC 7519 §4: "MUST either reject … or use a JSON parser that
 * returns only the lexically last duplicate" — we reject, so no two readers disagree), `iat` must
 * not be in the future nor after `exp`, and the lifetime `exp - iat` (`exp` - now without `iat`)
 * must not exceed a maximum: a leaked long-lived token is a standing credential (RFC 8725 §3.10).
 */
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { parseJson } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, type JwksSource } from '../config/config-variables.js';
import { loadOrCreateDevIssuer } from './dev-issuer.js';
import { isTenantId } from '../tenant/tenant-id.js';

/** Algorithms we accept (DESIGN.md §3). */
export const TOKEN_ALGORITHMS = ['EdDSA', 'ES256'] as const;

/** Who is calling, from a verified token. */
export interface Principal {
  readonly tenant: string;
  readonly subject: string;
  /** Every scope in the token's `scope` claim (unknown scopes are kept but grant nothing). */
  readonly scopes: readonly string[];
  readonly issuer: string;
  /** `exp`, seconds since the epoch. */
  readonly expiresAt: number;
  readonly tokenId?: string;
}

export interface TokenVerifier {
  /** Verifies a compact JWT; throws `AUTH_INVALID_TOKEN`, `AUTH_TOKEN_EXPIRED` or `SERVICE_UNAVAILABLE` (JWKS URL down). */
  verify(token: string): Promise<Principal>;
}

export interface TokenVerifierOptions {
  /** A JWKS object (dev issuer, file contents) or the URL of one. */
  keys: JSONWebKeySet | URL;
  issuer: string;
  audience: string;
  /** Seconds of clock skew tolerated on `exp`/`nbf`/`iat`. Default 30. */
  clockToleranceSec?: number;
  /** Remote JWKS fetch timeout. Default 5000 ms. */
  fetchTimeoutMs?: number;
  /** Longest accepted `exp - iat` (or `exp` - now), seconds. Default 86400 (`STELLA_AUTH_MAX_TOKEN_LIFETIME_SECONDS`). */
  maxTokenLifetimeSeconds?: number;
}

const ACCEPTED_TYP = new Set(['JWT', 'at+jwt', 'application/at+jwt']);

function invalid(message: string, reason: string): StellaError {
  return new StellaError('AUTH_INVALID_TOKEN', message, { details: { reason } });
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** A JOSE header or claims set is flat in practice; a few levels allow structured claims (`cnf`, `act`). */
const JOSE_MAX_DEPTH = 8;

/**
 * Parses the header and payload segments with the strict parser before jose sees them (jose uses
 * `JSON.parse`, which keeps the last of duplicate members: `{"alg":"EdDSA","alg":"none"}`).
 */
function assertStrictJoseJson(token: string): void {
  const parts = token.split('.');
  if (parts.length !== 3) return; // jose refuses the shape with its own reason
  for (const [i, what] of [
    [0, 'header'],
    [1, 'claims'],
  ] as const) {
    const segment = parts[i]!;
    if (!BASE64URL.test(segment)) throw invalid(`the token ${what} is not base64url`, what);
    let value: unknown;
    try {
      value = parseJson(Buffer.from(segment, 'base64url'), { maxDepth: JOSE_MAX_DEPTH });
    } catch (err) {
      if (err instanceof StellaError) throw invalid(`the token ${what} is not strict JSON: ${err.message}`, what);
      throw err;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw invalid(`the token ${what} is not a JSON object`, what);
  }
}

/** The time claims jose does not bound: `iat` in the past and before `exp`, and the lifetime. */
function assertTimes(payload: Record<string, unknown>, clockTolerance: number, maxLifetime: number): void {
  // jose has already checked that `exp` (required) and `iat` (if present) are numbers.
  const exp = payload.exp as number;
  const iat = payload.iat as number | undefined;
  const now = Math.floor(Date.now() / 1000);
  if (iat !== undefined && iat > now + clockTolerance) throw invalid("token claim 'iat' is in the future", 'claim:iat');
  if (iat !== undefined && iat > exp) throw invalid("token claim 'iat' is after 'exp'", 'claim:iat');
  const lifetime = exp - (iat ?? now);
  if (lifetime > maxLifetime) {
    throw invalid(`token lifetime ${lifetime} s exceeds the accepted maximum of ${maxLifetime} s`, 'lifetime');
  }
}

/** A verifier over fixed keys or a JWKS URL. */
export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const remote = opts.keys instanceof URL;
  let getKey: JWTVerifyGetKey;
  if (opts.keys instanceof URL) {
    getKey = createRemoteJWKSet(opts.keys, {
      timeoutDuration: opts.fetchTimeoutMs ?? 5000,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
    });
  } else {
    try {
      getKey = createLocalJWKSet(opts.keys);
    } catch (err) {
      throw new StellaError('KEY_INVALID', 'the JWKS is not a valid JSON Web Key Set', { cause: err });
    }
  }
  const clockTolerance = opts.clockToleranceSec ?? 30;
  const maxLifetime = opts.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;

  return {
    async verify(token: string): Promise<Principal> {
      let payload: Record<string, unknown>;
      let typ: string | undefined;
      assertStrictJoseJson(token);
      try {
        const r = await jwtVerify(token, getKey, {
          algorithms: [...TOKEN_ALGORITHMS],
          issuer: opts.issuer,
          audience: opts.audience,
          clockTolerance,
          requiredClaims: ['sub', 'exp', 'tenant', 'scope'],
        });
        payload = r.payload as Record<string, unknown>;
        typ = r.protectedHeader.typ;
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired)
          throw new StellaError('AUTH_TOKEN_EXPIRED', 'the bearer token has expired');
        if (err instanceof joseErrors.JWTClaimValidationFailed)
          throw invalid(`token claim '${err.claim}' is invalid: ${err.reason}`, `claim:${err.claim}`);
        if (err instanceof joseErrors.JOSEAlgNotAllowed)
          throw invalid(`token algorithm is not allowed (accepted: ${TOKEN_ALGORITHMS.join(', ')})`, 'alg');
        if (err instanceof joseErrors.JWKSNoMatchingKey) throw invalid('no trusted key matches the token', 'kid');
        if (err instanceof joseErrors.JWSSignatureVerificationFailed)
          throw invalid('token signature does not verify', 'signature');
        // The token may be fine: we cannot reach the issuer's keys. That is our outage, not a 401.
        if (
          remote &&
          (err instanceof joseErrors.JWKSTimeout ||
            err instanceof joseErrors.JWKSInvalid ||
            !(err instanceof joseErrors.JOSEError))
        ) {
          throw new StellaError('SERVICE_UNAVAILABLE', 'the token issuer keys (JWKS) cannot be fetched', {
            cause: err,
            details: { check: 'jwks' },
          });
        }
        if (err instanceof joseErrors.JOSEError)
          throw invalid('the bearer token is malformed or not verifiable', err.code);
        throw err;
      }
      assertTimes(payload, clockTolerance, maxLifetime);
      if (typ !== undefined && !ACCEPTED_TYP.has(typ)) throw invalid(`token type '${typ}' is not accepted`, 'typ');
      const { sub, tenant, scope, exp, iss, jti } = payload;
      if (typeof sub !== 'string' || sub === '')
        throw invalid("token claim 'sub' must be a non-empty string", 'claim:sub');
      if (!isTenantId(tenant)) throw invalid("token claim 'tenant' is not a valid tenant id", 'claim:tenant');
      if (typeof scope !== 'string')
        throw invalid("token claim 'scope' must be a space-separated string", 'claim:scope');
      return Object.freeze({
        tenant,
        subject: sub,
        scopes: Object.freeze(scope.split(' ').filter(Boolean)),
        issuer: iss as string,
        expiresAt: exp as number,
        ...(typeof jti === 'string' ? { tokenId: jti } : {}),
      });
    },
  };
}

/** Reads and checks a JWKS file (`KEY_INVALID` if it is not one). */
export async function readJwksFile(path: string): Promise<JSONWebKeySet> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new StellaError('KEY_NOT_FOUND', `cannot read JWKS file ${path}`, { cause: err });
  }
  let j: unknown;
  try {
    // Strict: with duplicate "keys" members, two readers of the file would trust different keys.
    j = parseJson(bytes);
  } catch (err) {
    throw new StellaError('KEY_INVALID', `${path} is not valid JSON`, { cause: err });
  }
  const keys = (j as { keys?: unknown } | null)?.keys;
  if (
    !Array.isArray(keys) ||
    keys.length === 0 ||
    !keys.every((k) => k && typeof k === 'object' && typeof (k as JSONWebKeySet['keys'][number]).kty === 'string')
  ) {
    throw new StellaError('KEY_INVALID', `${path} is not a JWKS ({"keys":[…]} with at least one key)`);
  }
  if (keys.some((k: Record<string, unknown>) => 'd' in k)) {
    // A private key in a verifier's JWKS means a signing key was copied where it should not be.
    throw new StellaError('KEY_INVALID', `${path} contains private key material; publish only public keys`);
  }
  return j as JSONWebKeySet;
}

/**
 * The verifier for a process's auth configuration (`StellaConfig.auth` + `dataDir`): the dev
 * issuer (created if absent), a JWKS file, or a JWKS URL.
 */
export async function createTokenVerifierFromConfig(
  auth: { jwks: JwksSource; issuer: string; audience: string; maxTokenLifetimeSeconds?: number },
  dataDir: string,
  extra: Pick<TokenVerifierOptions, 'clockToleranceSec' | 'fetchTimeoutMs'> = {},
): Promise<TokenVerifier> {
  const base = {
    issuer: auth.issuer,
    audience: auth.audience,
    ...(auth.maxTokenLifetimeSeconds !== undefined ? { maxTokenLifetimeSeconds: auth.maxTokenLifetimeSeconds } : {}),
    ...extra,
  };
  switch (auth.jwks.kind) {
    case 'dev': {
      const dev = await loadOrCreateDevIssuer(dataDir);
      return createTokenVerifier({ ...base, keys: dev.jwks, issuer: dev.issuer });
    }
    case 'file':
      return createTokenVerifier({ ...base, keys: await readJwksFile(auth.jwks.path) });
    case 'url':
      return createTokenVerifier({ ...base, keys: new URL(auth.jwks.url) });
  }
}
