/**
 * Route-level auth (DESIGN.md §3 "Auth"). A route declares what it needs in its config:
 *
 *   app.get('/v1/things', { config: { auth: { tenant: true, scopes: ['timeline:read'] } }, schema }, handler)
 *   app.get('/healthz', { config: { auth: false }, schema }, handler)          // public
 *
 * One `onRequest` hook enforces it, before the body is read, in this order (so each failure has
 * one documented answer): no token → 401 AUTH_REQUIRED; bad token → 401 AUTH_INVALID_TOKEN /
 * AUTH_TOKEN_EXPIRED; tenant route without `X-Stella-Tenant` → 400 TENANT_HEADER_MISSING; header
 * ≠ token tenant → 403 TENANT_FORBIDDEN; missing scope → 403 SCOPE_FORBIDDEN. Every route must
 * declare `auth` (public or not) — a forgotten declaration fails at startup, not in production.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StellaError } from '@stella/core/errors';
import { isScope, type Scope } from '../auth/scopes.js';
import type { Principal, TokenVerifier } from '../auth/token-verifier.js';

export const TENANT_HEADER = 'x-stella-tenant';

export interface RouteAuthRequirement {
  /** Tenant route: `X-Stella-Tenant` is required and must equal the token's tenant. */
  tenant?: boolean;
  /** Every one of these scopes is required. */
  scopes?: readonly Scope[];
  /** At least one of these scopes is required. */
  anyOf?: readonly Scope[];
}

/** `false` = public route; an object = a valid bearer token plus the listed requirements. */
export type RouteAuth = false | RouteAuthRequirement;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route auth; see `packages/platform/src/http/route-auth.ts`. */
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** The verified caller on authenticated routes. */
    principal: Principal | undefined;
  }
}

/** Route config for a public route. */
export const publicRoute = { auth: false } as const satisfies { auth: RouteAuth };

/** Route config for a tenant route needing all of `scopes`. */
export function tenantRoute(...scopes: Scope[]): { auth: RouteAuthRequirement } {
  return { auth: { tenant: true, scopes } };
}

/** Checks a declaration at route registration; throws a plain Error (a programming mistake). */
export function assertRouteAuth(method: string, url: string, auth: unknown): void {
  if (auth === false) return;
  if (auth === undefined) {
    throw new Error(`route ${method} ${url} does not declare config.auth (use publicRoute or tenantRoute(…))`);
  }
  const a = auth as RouteAuthRequirement;
  for (const s of [...(a.scopes ?? []), ...(a.anyOf ?? [])]) {
    if (!isScope(s)) throw new Error(`route ${method} ${url} requires unknown scope '${s}'`);
  }
  if (a.anyOf && a.anyOf.length === 0) throw new Error(`route ${method} ${url} has an empty anyOf`);
}

/** The principal of an authenticated request (throws if the route is public: a programming error). */
export function requirePrincipal(req: FastifyRequest): Principal {
  if (!req.principal) throw new StellaError('AUTH_REQUIRED', 'this route needs an authenticated caller');
  return req.principal;
}

/** Extracts the token from `Authorization: Bearer <token>` (RFC 6750 §2.1; scheme is case-insensitive). */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
  if (!m)
    throw new StellaError('AUTH_INVALID_TOKEN', 'the Authorization header is not `Bearer <token>`', {
      details: { reason: 'scheme' },
    });
  return m[1];
}

/** The `onRequest` hook enforcing `config.auth`. */
export function createAuthHook(verifier: TokenVerifier) {
  return async function authHook(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    // The not-found handler has no declaration; every real route has one (checked in onRoute).
    const auth = req.routeOptions.config.auth;
    if (auth === undefined || auth === false) return;
    let token: string | undefined;
    try {
      token = bearerToken(req.headers.authorization);
    } catch (err) {
      reply.header('www-authenticate', 'Bearer realm="stella", error="invalid_request"');
      throw err;
    }
    if (token === undefined) {
      reply.header('www-authenticate', 'Bearer realm="stella"');
      throw new StellaError('AUTH_REQUIRED', 'a bearer token is required (Authorization: Bearer <token>)');
    }
    let principal: Principal;
    try {
      principal = await verifier.verify(token);
    } catch (err) {
      if (err instanceof StellaError && (err.code === 'AUTH_INVALID_TOKEN' || err.code === 'AUTH_TOKEN_EXPIRED')) {
        // RFC 6750 §3.1: tell the client why, without echoing the token.
        reply.header('www-authenticate', 'Bearer realm="stella", error="invalid_token"');
      }
      throw err;
    }
    if (auth.tenant) {
      const header = req.headers[TENANT_HEADER];
      if (header === undefined || header === '') {
        throw new StellaError(
          'TENANT_HEADER_MISSING',
          'this is a tenant route: send X-Stella-Tenant with your tenant id',
        );
      }
      if (header !== principal.tenant) {
        throw new StellaError('TENANT_FORBIDDEN', 'X-Stella-Tenant does not match the tenant of the token');
      }
    }
    const missing = (auth.scopes ?? []).filter((s) => !principal.scopes.includes(s));
    if (missing.length) {
      reply.header(
        'www-authenticate',
        `Bearer realm="stella", error="insufficient_scope", scope="${missing.join(' ')}"`,
      );
      throw new StellaError('SCOPE_FORBIDDEN', `the token lacks required scope(s): ${missing.join(' ')}`, {
        details: { required: missing },
      });
    }
    if (auth.anyOf && !auth.anyOf.some((s) => principal.scopes.includes(s))) {
      reply.header(
        'www-authenticate',
        `Bearer realm="stella", error="insufficient_scope", scope="${auth.anyOf.join(' ')}"`,
      );
      throw new StellaError('SCOPE_FORBIDDEN', `the token needs one of: ${auth.anyOf.join(' ')}`, {
        details: { anyOf: auth.anyOf },
      });
    }
    req.principal = principal;
  };
}
