/**
 * Requests Node's HTTP parser refuses never reach Fastify's routing: headers over the size limit
 * (431), framing errors (bad chunked encoding, both Content-Length and Transfer-Encoding — RFC 9112
 * §6.1 smuggling), forbidden bytes such as NUL in a header, a method llhttp does not know, and the
 * header/request timeouts (408). Node reports them as `clientError` on the server; this handler
 * writes the documented envelope with a request id and `traceparent` (issue 19 finding 7, issue 7
 * point 4) instead of Fastify's own body, then closes the connection — after a parse error the
 * byte stream can no longer be trusted to delimit another request.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { ulid } from 'ulid';
import { ERROR_CODES, type ErrorCode } from '@stella/core/errors';
import { formatTraceparent, startTrace } from '../telemetry/trace-context.js';
import type { ErrorEnvelope } from './error-envelope.js';

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  HEADERS_TOO_LARGE: 'the request headers are larger than the server accepts',
  REQUEST_TIMEOUT: 'the request was not received in time',
  METHOD_NOT_IMPLEMENTED: 'the request method is not implemented',
  HTTP_MALFORMED: 'the request is not well-formed HTTP/1.1',
};

/** The code for a `clientError` (`err.code` is llhttp's `HPE_*` or Node's `ERR_HTTP_*`). */
function codeFor(errCode: string | undefined): ErrorCode {
  switch (errCode) {
    case 'HPE_HEADER_OVERFLOW':
      return 'HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'REQUEST_TIMEOUT';
    case 'HPE_INVALID_METHOD':
      // RFC 9110 §9.1: an unrecognized method SHOULD get 501.
      return 'METHOD_NOT_IMPLEMENTED';
    default:
      return 'HTTP_MALFORMED';
  }
}

/** The raw HTTP/1.1 response for a client error: the envelope, fresh ids, `Connection: close`. */
export function clientErrorResponse(errCode: string | undefined): { response: string; envelope: ErrorEnvelope } {
  const code = codeFor(errCode);
  const statusCode = ERROR_CODES[code].status;
  const trace = startTrace(undefined);
  const envelope: ErrorEnvelope = {
    statusCode,
    code,
    message: MESSAGES[code]!,
    // llhttp's code names what was wrong with the bytes the client sent, nothing of ours.
    ...(code === 'HTTP_MALFORMED' && errCode ? { details: { reason: errCode } } : {}),
    traceId: trace.traceId,
  };
  const body = JSON.stringify(envelope);
  const response =
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${ulid()}\r\n` +
    `traceparent: ${formatTraceparent(trace)}\r\n` +
    'connection: close\r\n\r\n' +
    body;
  return { response, envelope };
}

/** Node attaches the in-flight response to the socket; once it has started, nothing more can be said. */
type HttpSocket = Socket & { _httpMessage?: { headersSent?: boolean } };

/**
 * The server's `clientError` listener (Fastify's `clientErrorHandler`, which Fastify calls with
 * `this` = the instance).
 */
export function onClientError(this: { log: FastifyBaseLogger }, err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer (Node docs, event 'clientError').
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const s = socket as HttpSocket;
  if (!socket.writable || s._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const { response, envelope } = clientErrorResponse(err.code);
  this.log.info({ code: envelope.code, reason: err.code, traceId: envelope.traceId }, envelope.message);
  // Flush the answer, then close: the client may still be sending (or stalling on) its request.
  socket.end(response, () => socket.destroy());
}
