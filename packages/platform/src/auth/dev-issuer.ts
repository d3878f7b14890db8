/**
 * The embedded dev token issuer (DESIGN.md §2 "Runtime modes": "a dev token issuer generated on
 * first start"). An Ed25519 key lives in `$STELLA_DATA_DIR/dev-issuer/private.jwk.json` (0600,
 * directory 0700) with the public JWKS beside it in `jwks.json`, so `stella serve` and
 * `stella auth token` in the same data dir agree on keys without talking to each other.
 *
 * Creation is atomic and race-free: the key is written to a temp file and hard-linked into place
 * (`link` fails with EEXIST when another process won), so two processes starting at once end up
 * with the same key and nobody ever reads a half-written file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { parseJson } from '@stella/core/canonical-json';
import { StellaError } from '@stella/core/errors';
import { DEFAULT_AUDIENCE, DEV_ISSUER } from '../config/config.js';
import { isTenantId } from '../tenant/tenant-id.js';
import { isScope, SCOPES } from './scopes.js';

export const DEV_ISSUER_DIR = 'dev-issuer';
const PRIVATE_FILE = 'private.jwk.json';
const JWKS_FILE = 'jwks.json';
/** Longest dev token lifetime: a dev token is a convenience, not a long-lived credential. */
export const MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600;

export interface MintOptions {
  tenant: string;
  /** Default `dev-user`. */
  subject?: string;
  scopes: readonly string[];
  /** Default 3600. */
  ttlSeconds?: number;
  /** Seconds since the epoch used for `iat`; default now (tests pin it to mint expired tokens). */
  now?: number;
}

export interface DevIssuer {
  readonly issuer: string;
  readonly audience: string;
  /** RFC 7638 thumbprint of the public key, used as `kid`. */
  readonly kid: string;
  /** Public keys, as served to verifiers. */
  readonly jwks: JSONWebKeySet;
  /** `$STELLA_DATA_DIR/dev-issuer`. */
  readonly dir: string;
  /** Signs an EdDSA JWT with `sub`, `tenant`, `scope`, `iss`, `aud`, `iat`, `exp`, `jti`. */
  mint(opts: MintOptions): Promise<string>;
}

/**
 * Parses a token lifetime: plain seconds (`900`) or a number with `s`, `m`, `h`, `d`
 * (`30m`, `1h`, `7d`). Throws `VALIDATION_FAILED` for anything else or outside 1 s…366 d.
 */
export function parseTtl(text: string): number {
  const m = /^\s*(\d{1,9})\s*([smhd]?)\s*$/.exec(text);
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 } as const;
  const seconds = m ? Number(m[1]) * mult[m[2] as keyof typeof mult] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_TOKEN_TTL_SECONDS) {
    throw new StellaError(
      'VALIDATION_FAILED',
      `invalid ttl '${text}': use seconds or a number with s, m, h or d (1s … 366d)`,
      {
        details: { ttl: text },
      },
    );
  }
  return seconds;
}

function isEd25519PrivateJwk(j: unknown): j is JWK & { d: string; x: string } {
  const o = j as Record<string, unknown> | null;
  return !!o && o.kty === 'OKP' && o.crv === 'Ed25519' && typeof o.d === 'string' && typeof o.x === 'string';
}

async function writeExclusive(path: string, data: string, mode: number): Promise<boolean> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readPrivateJwk(path: string): Promise<(JWK & { d: string; x: string }) | undefined> {
  let text: string;
  try {
    const st = await stat(path);
    // Like ssh with private keys: refuse a key others can read rather than silently using it.
    if ((st.mode & 0o077) !== 0) {
      throw new StellaError(
        'KEY_INVALID',
        `${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`,
      );
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let j: unknown;
  try {
    j = parseJson(text);
  } catch {
    throw new StellaError('KEY_INVALID', `${path} is not valid JSON`);
  }
  if (!isEd25519PrivateJwk(j)) throw new StellaError('KEY_INVALID', `${path} is not an Ed25519 private JWK`);
  return j;
}

/**
 * Loads the dev issuer of `dataDir`, creating its key on first use. Throws `KEY_INVALID` when the
 * stored key is unreadable, of the wrong type or too widely readable.
 */
export async function loadOrCreateDevIssuer(dataDir: string): Promise<DevIssuer> {
  const dir = join(dataDir, DEV_ISSUER_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privPath = join(dir, PRIVATE_FILE);
  let jwk = await readPrivateJwk(privPath);
  if (!jwk) {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const fresh = await exportJWK(privateKey);
    await writeExclusive(privPath, `${JSON.stringify(fresh, null, 2)}\n`, 0o600);
    // Whoever won the race, everyone uses the key that is now in place.
    jwk = await readPrivateJwk(privPath);
    if (!jwk) throw new StellaError('KEY_INVALID', `${privPath} vanished while it was being created`);
  }
  return openDevIssuer(dir, jwk);
}

/**
 * The dev issuer of `dataDir` if one was created there, else `undefined` (nothing is created).
 * For minting outside `stella serve`: a token from a fresh issuer in the wrong directory would be
 * refused by the server, so callers must not make one silently.
 */
export async function loadDevIssuer(dataDir: string): Promise<DevIssuer | undefined> {
  const dir = join(dataDir, DEV_ISSUER_DIR);
  const jwk = await readPrivateJwk(join(dir, PRIVATE_FILE));
  return jwk ? openDevIssuer(dir, jwk) : undefined;
}

async function openDevIssuer(dir: string, jwk: JWK & { d: string; x: string }): Promise<DevIssuer> {
  const { d: _d, ...pub } = jwk;
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x });
  const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: pub.x, kid, alg: 'EdDSA', use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [publicJwk] };
  const jwksText = `${JSON.stringify(jwks, null, 2)}\n`;
  const jwksPath = join(dir, JWKS_FILE);
  const current = await readFile(jwksPath, 'utf8').catch(() => undefined);
  if (current !== jwksText) {
    // Derived data: rewrite atomically whenever it is missing or stale.
    const tmp = `${jwksPath}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, jwksText, { mode: 0o644 });
    await rename(tmp, jwksPath);
  }
  await chmod(dir, 0o700).catch(() => undefined);
  const key = await importJWK({ ...jwk, alg: 'EdDSA' }, 'EdDSA');

  return Object.freeze({
    issuer: DEV_ISSUER,
    audience: DEFAULT_AUDIENCE,
    kid,
    jwks,
    dir,
    async mint(opts: MintOptions): Promise<string> {
      if (!isTenantId(opts.tenant))
        throw new StellaError('TENANT_INVALID', `'${opts.tenant}' is not a valid tenant id`);
      const subject = opts.subject ?? 'dev-user';
      if (subject.trim() === '' || subject.length > 256)
        throw new StellaError('VALIDATION_FAILED', 'subject must be 1–256 characters');
      const unknown = opts.scopes.filter((s) => !isScope(s));
      if (unknown.length || opts.scopes.length === 0) {
        throw new StellaError(
          'VALIDATION_FAILED',
          unknown.length ? `unknown scope(s): ${unknown.join(', ')}` : 'no scope given',
          {
            details: { unknown, known: [...SCOPES] },
          },
        );
      }
      const ttl = opts.ttlSeconds ?? 3600;
      if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
        throw new StellaError('VALIDATION_FAILED', `ttl must be 1…${MAX_TOKEN_TTL_SECONDS} seconds`);
      }
      const now = opts.now ?? Math.floor(Date.now() / 1000);
      return new SignJWT({ tenant: opts.tenant, scope: [...new Set(opts.scopes)].join(' ') })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid })
        .setIssuer(DEV_ISSUER)
        .setAudience(DEFAULT_AUDIENCE)
        .setSubject(subject)
        .setIssuedAt(now)
        .setExpirationTime(now + ttl)
        .setJti(randomBytes(16).toString('base64url'))
        .sign(key);
    },
  });
}
