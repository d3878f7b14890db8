/**
 * Requests Node's HTTP parser refuses never reach Fastify's routing: headers over the size limit
 * (431), framing errors (bad chunked encoding, both Content-Length and Transfer-Encoding — RFC 9112
 * §6.1 smuggling), forbidden bytes such as NUL in a header, a method llhttp does not know, and the
 * header/request timeouts (408). Node reports them as `clientError` on the server; this handler
 * writes the documented envelope with a request id and `traceparent` (issue 19 finding 7, issue 7
 * point 4) instead of Fastify's own body, then closes the connection — after a parse error the
 * byte stream can no longer be trusted to delimit another request. Two more answers Node would
 * give on its own, without a body, get the envelope too: an unsupported `Expect` (417) and
 * `CONNECT` (501).
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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

/** An answer written outside Fastify: the envelope, its headers (fresh ids) and body. */
interface EarlyAnswer {
  envelope: ErrorEnvelope;
  headers: Record<string, string>;
  body: string;
}

function earlyAnswer(code: ErrorCode, message: string, details?: unknown): EarlyAnswer {
  const statusCode = ERROR_CODES[code].status;
  const trace = startTrace(undefined);
  const envelope: ErrorEnvelope = {
    statusCode,
    code,
    message,
    ...(details !== undefined ? { details } : {}),
    traceId: trace.traceId,
  };
  const body = JSON.stringify(envelope);
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': ulid(),
    traceparent: formatTraceparent(trace),
    connection: 'close',
  };
  return { envelope, headers, body };
}

/** The answer as raw HTTP/1.1 bytes, for a socket no ServerResponse owns. */
function rawResponse({ envelope, headers, body }: EarlyAnswer): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${envelope.statusCode} ${STATUS_CODES[envelope.statusCode]}\r\n${lines.join('')}\r\n${body}`;
}

/** The raw HTTP/1.1 response for a client error: the envelope, fresh ids, `Connection: close`. */
export function clientErrorResponse(errCode: string | undefined): { response: string; envelope: ErrorEnvelope } {
  const code = codeFor(errCode);
  // llhttp's code names what was wrong with the bytes the client sent, nothing of ours.
  const details = code === 'HTTP_MALFORMED' && errCode ? { reason: errCode } : undefined;
  const answer = earlyAnswer(code, MESSAGES[code]!, details);
  return { response: rawResponse(answer), envelope: answer.envelope };
}

/**
 * The server's `checkExpectation` listener: an `Expect` other than `100-continue`, which Node
 * otherwise answers with an empty 417 (RFC 9110 §10.1.1 allows the 417).
 */
export function onCheckExpectation(req: IncomingMessage, res: ServerResponse): void {
  const { envelope, headers, body } = earlyAnswer(
    'EXPECTATION_FAILED',
    'only the expectation 100-continue is supported',
    { expect: req.headers.expect },
  );
  res.writeHead(envelope.statusCode, headers).end(body);
}

/**
 * The server's `connect` listener: without one Node drops a CONNECT request without an answer. An
 * origin server need not implement CONNECT (RFC 9110 §9.3.6); this one does not.
 */
export function onConnect(_req: IncomingMessage, socket: Duplex): void {
  const answer = earlyAnswer('METHOD_NOT_IMPLEMENTED', 'CONNECT is not implemented: this is not a proxy');
  socket.end(rawResponse(answer), () => socket.destroy());
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
