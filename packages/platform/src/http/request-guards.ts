/**
 * Checks every request passes before auth and before its body is read (issue 19 findings 6–7,
 * issue 7 point 4):
 *
 * - while the server shuts down, requests still arriving on open keep-alive connections → 503
 *   `SERVICE_UNAVAILABLE` (Fastify's own `return503OnClosing` answer is not the envelope);
 * - HTTP/1.1 without `Host`, or any request with more than one `Host` → 400 (RFC 9112 §3.2). Node's
 *   own check answers with an empty body, so it is turned off (`requireHostHeader: false`) and
 *   done here, with the envelope.
 * - more than one `Authorization` or `Content-Type` field line → 400. Node keeps the first of
 *   these and drops the rest, so a proxy that reads the last one would see another request
 *   (RFC 9110 §5.3: only list-based fields may repeat).
 * - a request no route matches → 404 `NOT_FOUND`, or 405 `METHOD_NOT_ALLOWED` with `Allow`
 *   (RFC 9110 §15.5.6) when the path exists for other methods — decided here so an unknown route
 *   answers 404 whatever its body (never 400 or 413 from parsing it first).
 */
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import FindMyWay from 'find-my-way';
import { StellaError } from '@stella/core/errors';

/** Fields that must occur at most once; Node silently drops repeats of these. */
const SINGLE_FIELDS = ['host', 'authorization', 'content-type'];

function malformed(message: string, header: string): StellaError {
  return new StellaError('HTTP_MALFORMED', message, { details: { header } });
}

/** How many field lines of each single field the request carries (`rawHeaders` keeps them all). */
function countSingleFields(rawHeaders: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (SINGLE_FIELDS.includes(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** A second index of the routes, by method, to tell 405 from 404 for a path no route matched. */
export function createRouteIndex() {
  const router = FindMyWay();
  const methods = new Set<string>();
  const noop = () => undefined;
  return {
    /** For the `onRoute` hook. */
    add(route: Pick<RouteOptions, 'method' | 'url'>): void {
      for (const method of [route.method].flat()) {
        if (router.hasRoute(method as FindMyWay.HTTPMethod, route.url)) continue;
        router.on(method as FindMyWay.HTTPMethod, route.url, noop);
        methods.add(method);
      }
    },
    /** Methods that have a route for `path`, sorted. */
    allowed(path: string): string[] {
      return [...methods].filter((m) => router.find(m as FindMyWay.HTTPMethod, path) !== null).sort();
    },
  };
}

export type RouteIndex = ReturnType<typeof createRouteIndex>;

/** The `onRequest` hook: shutdown, header rules, then 404/405 for unmatched requests. */
export function createRequestGuard(routes: RouteIndex, isClosing: () => boolean) {
  return async function requestGuard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (isClosing()) throw new StellaError('SERVICE_UNAVAILABLE', 'the server is shutting down; retry elsewhere');
    const counts = countSingleFields(req.raw.rawHeaders);
    if (req.raw.httpVersion === '1.1' && !counts.has('host'))
      throw malformed('an HTTP/1.1 request must carry a Host header (RFC 9112 §3.2)', 'host');
    for (const [name, n] of counts) {
      if (n > 1) throw malformed(`the ${name} header must occur once, not ${n} times`, name);
    }
    if (!req.is404) return;
    const path = req.url.split('?')[0]!;
    const allow = routes.allowed(path);
    if (allow.length === 0) throw new StellaError('NOT_FOUND', `no route ${req.method} ${path}`);
    reply.header('allow', allow.join(', '));
    throw new StellaError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use ${allow.join(', ')}`, {
      details: { allow },
    });
  };
}
