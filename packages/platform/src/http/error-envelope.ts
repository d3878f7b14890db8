/**
 * The error envelope (DESIGN.md §3 "Errors"): every non-2xx body is
 * `{statusCode, code, message, details?, traceId}` with `code` from the one registry
 * (`@stella/core/errors`). This module maps anything thrown — a StellaError, one of Fastify's own
 * errors, or an unexpected bug — onto that shape, and decides what may be shown to the caller.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ERROR_CODES, StellaError, type ErrorCode } from '@stella/core/errors';

/** Shared-schema id; routes reference it as `Type.Ref(ERROR_ENVELOPE_ID)`. */
export const ERROR_ENVELOPE_ID = 'ErrorEnvelope';

export const ErrorEnvelopeSchema = Type.Object(
  {
    statusCode: Type.Integer({
      minimum: 400,
      maximum: 599,
      description: 'The HTTP status, repeated for clients that lose it.',
    }),
    code: Type.Unsafe<ErrorCode>({
      type: 'string',
      enum: (Object.keys(ERROR_CODES) as ErrorCode[]).sort(),
      description: 'Stable machine-readable code; see docs/errors.md.',
    }),
    message: Type.String({ description: 'Human-readable explanation; wording may change.' }),
    details: Type.Optional(
      Type.Unknown({ description: 'Structured, code-specific details (e.g. validation problems).' }),
    ),
    traceId: Type.String({
      pattern: '^[0-9a-f]{32}$',
      description: 'W3C trace id of the request; quote it when reporting a problem.',
    }),
  },
  { $id: ERROR_ENVELOPE_ID, additionalProperties: false, description: 'Body of every non-2xx response.' },
);
export type ErrorEnvelope = Static<typeof ErrorEnvelopeSchema>;

/**
 * Response schemas for documented error statuses of a route, e.g.
 * `response: { 200: Thing, ...errorResponses(404, 409) }`. Statuses not listed are still
 * documented by the `4XX`/`5XX` defaults `buildApp` adds.
 */
export function errorResponses(...statuses: number[]): Record<number, { $ref: string; description: string }> {
  return Object.fromEntries(
    statuses.map((s) => [s, { $ref: `${ERROR_ENVELOPE_ID}#`, description: 'Error envelope (docs/errors.md).' }]),
  );
}

/** A Fastify error (from `@fastify/error`): `code` is `FST_…`, `statusCode` is set. */
interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: { instancePath?: string; message?: string; keyword?: string; params?: unknown }[];
  validationContext?: string;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
  FST_ERR_BAD_URL: 'HTTP_MALFORMED',
};

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'QUOTA_EXCEEDED',
  503: 'SERVICE_UNAVAILABLE',
};

/** What the error handler answers, plus whether it is our fault (logged at error level). */
export interface MappedError {
  envelope: ErrorEnvelope;
  /** True for 5xx that are not a deliberate StellaError: log the original with its stack. */
  unexpected: boolean;
}

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  MALFORMED_JSON: 'the request body is not valid JSON',
  UNSUPPORTED_MEDIA_TYPE: 'the Content-Type of the request is not accepted by this route',
  PAYLOAD_TOO_LARGE: 'the request body is larger than the server accepts',
  NOT_FOUND: 'no such route',
  HTTP_MALFORMED: 'the request URL is not valid (a malformed %-escape)',
  INTERNAL: 'internal server error',
};

/** Maps anything thrown in a request to the envelope. Never leaks messages of unknown errors. */
export function toErrorEnvelope(err: unknown, traceId: string): MappedError {
  if (err instanceof StellaError) {
    return {
      envelope: {
        statusCode: err.statusCode,
        code: err.code,
        message: err.message,
        ...(err.details !== undefined ? { details: err.details } : {}),
        traceId,
      },
      unexpected: false,
    };
  }
  const e = (err ?? {}) as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    // Ajv's errors are about the caller's input; they carry no server internals.
    const problems = e.validation.map((v) => ({
      in: e.validationContext ?? 'body',
      path: v.instancePath ?? '',
      message: v.message ?? 'invalid',
      keyword: v.keyword,
      params: v.params,
    }));
    const first = problems[0];
    return {
      envelope: {
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: first ? `${first.in}${first.path} ${first.message}` : 'the request does not match its schema',
        details: { problems },
        traceId,
      },
      unexpected: false,
    };
  }
  // Only Fastify's own errors (FST_*) are trusted to describe the request; anything else that
  // merely *has* a statusCode could come from a library and carry internal detail.
  if (
    typeof e.code === 'string' &&
    e.code.startsWith('FST_') &&
    typeof e.statusCode === 'number' &&
    e.statusCode < 500
  ) {
    const code = FASTIFY_CODES[e.code] ?? BY_STATUS[e.statusCode] ?? 'VALIDATION_FAILED';
    const status = ERROR_CODES[code].status;
    return {
      envelope: {
        statusCode: status,
        code,
        message: MESSAGES[code] ?? (typeof e.message === 'string' ? e.message : code),
        traceId,
      },
      unexpected: false,
    };
  }
  return { envelope: { statusCode: 500, code: 'INTERNAL', message: MESSAGES.INTERNAL!, traceId }, unexpected: true };
}
