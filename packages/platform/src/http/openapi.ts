/**
 * The committed OpenAPI document (DESIGN.md §3 "OpenAPI": "generated from route schemas,
 * committed, checked in CI for drift"). `buildOpenApiDocument(plugins)` builds the same app the
 * server runs — platform routes plus the given service route plugins — without listening, and
 * returns what `GET /.well-known/openapi` would serve. `scripts/gen-docs.ts` writes it.
 */
import { StellaError } from '@stella/core/errors';
import { buildApp, type RoutePlugin } from './app.js';
import { createHttpMetrics } from '../telemetry/metrics.js';

export type OpenApiDocument = Record<string, unknown> & {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, unknown>;
};

const METHOD_ORDER = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function sortKeys<T extends Record<string, unknown>>(
  o: T | undefined,
  order?: (a: string, b: string) => number,
): T | undefined {
  if (!o) return o;
  return Object.fromEntries(
    Object.entries(o).sort(([a], [b]) => (order ? order(a, b) : a < b ? -1 : a > b ? 1 : 0)),
  ) as T;
}

/** Builds the OpenAPI 3.1 document of the platform routes plus `plugins`. No I/O. */
export async function buildOpenApiDocument(
  plugins: readonly RoutePlugin[],
  opts: { version: string; tags?: readonly { name: string; description: string }[] },
): Promise<OpenApiDocument> {
  const app = await buildApp({
    config: { http: { bodyLimit: 1024 * 1024 } },
    // Never called: the app is only built to read its route schemas, it serves no request.
    verifier: {
      verify: () =>
        Promise.reject(new StellaError('AUTH_INVALID_TOKEN', 'documentation build: no tokens are accepted')),
    },
    version: opts.version,
    plugins,
    ...(opts.tags ? { openApiTags: opts.tags } : {}),
    logger: false,
    metrics: createHttpMetrics({ defaultMetrics: false }),
  });
  try {
    await app.ready();
    return structuredClone(app.swagger()) as OpenApiDocument;
  } finally {
    await app.close();
  }
}

/**
 * The committed form: 2-space JSON with paths, methods and component schemas sorted, so the file
 * does not churn when a plugin registers its routes in another order.
 */
export function stableOpenApiJson(doc: OpenApiDocument): string {
  const paths = sortKeys(doc.paths);
  const sortedPaths = Object.fromEntries(
    Object.entries(paths ?? {}).map(([p, ops]) => [
      p,
      sortKeys(
        ops as Record<string, unknown>,
        (a, b) => (METHOD_ORDER.indexOf(a) + 1 || 99) - (METHOD_ORDER.indexOf(b) + 1 || 99) || (a < b ? -1 : 1),
      ),
    ]),
  );
  const components = doc.components as Record<string, Record<string, unknown>> | undefined;
  const sortedComponents =
    components && Object.fromEntries(Object.entries(components).map(([k, v]) => [k, sortKeys(v)]));
  return `${JSON.stringify({ ...doc, paths: sortedPaths, ...(sortedComponents ? { components: sortedComponents } : {}) }, null, 2)}\n`;
}
