export { buildApp, API_TITLE, type AppDeps, type RoutePlugin, type StellaApp } from './app.js';
export {
  ErrorEnvelopeSchema,
  ERROR_ENVELOPE_ID,
  errorResponses,
  toErrorEnvelope,
  type ErrorEnvelope,
  type MappedError,
} from './error-envelope.js';
export {
  TENANT_HEADER,
  publicRoute,
  tenantRoute,
  requirePrincipal,
  bearerToken,
  type RouteAuth,
  type RouteAuthRequirement,
} from './route-auth.js';
export { ifNoneMatchHits, type ReadinessCheck } from './platform-routes.js';
export { parseByteRange } from './byte-range.js';
export { buildOpenApiDocument, stableOpenApiJson, type OpenApiDocument } from './openapi.js';
export { renderErrorsMarkdown } from './errors-docs.js';
export {
  idempotent,
  requestDigest,
  IDEMPOTENCY_KEY_PATTERN,
  IdempotencyKeyHeaderSchema,
  type IdempotencyOptions,
  type IdempotentResponse,
} from './idempotency.js';
