/**
 * RFC 3161 §3.4 HTTP client: POST a DER TimeStampReq as `application/timestamp-query`, read an
 * `application/timestamp-reply`, and refuse any answer whose nonce or message imprint is not
 * the one we asked for (a TSA, or someone in between, replaying an old token).
 */
import { StellaError } from '@stella/core/errors';
import {
  buildTimeStampRequest,
  parseTimeStampResponse,
  type ImprintHash,
  type ParsedTimeStampToken,
} from '@stella/core/rfc3161';

/** Options for {@link requestTimestamp}. */
export interface RequestTimestampOptions {
  /** Hash algorithm of `digest` (default sha256). */
  hashAlgorithm?: ImprintHash;
  /** Ask for the TSA certificate in the token (default true). */
  certReq?: boolean;
  /** Requested policy OID. */
  policy?: string;
  /** Fixed nonce (tests); default a fresh random 63-bit value. */
  nonce?: bigint;
  /** Request timeout (default 30 s). */
  timeoutMs?: number;
  /** Largest accepted response (default 1 MiB — tokens are a few KiB). */
  maxResponseBytes?: number;
  /** Extra request headers (e.g. Authorization for commercial TSAs). */
  headers?: Record<string, string>;
  /** Abort from outside (e.g. CLI Ctrl-C). */
  signal?: AbortSignal;
}

/** The TSA's answer. */
export interface TimestampResult {
  /** The whole DER TimeStampResp as received (what `.tsr` files hold). */
  response: Uint8Array;
  /** The parsed token (its `der` is the bare TimeStampToken). */
  token: ParsedTimeStampToken;
  /** The nonce we sent. */
  nonce: bigint;
}

async function readLimited(res: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    throw new StellaError(
      'TIMESTAMP_REQUEST_FAILED',
      `TSA response of ${declared} bytes exceeds the ${limit}-byte limit`,
    );
  }
  if (!res.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit)
      throw new StellaError('TIMESTAMP_REQUEST_FAILED', `TSA response exceeds the ${limit}-byte limit`);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Time-stamp `digest` at the TSA `url`. Errors: TIMESTAMP_REQUEST_FAILED (network, timeout, HTTP
 * status, wrong content type, rejection status — the PKIStatus text is in the message),
 * ASN1_MALFORMED (undecodable reply), TIMESTAMP_INVALID (nonce or imprint differ from the request,
 * `details.check` = `nonce` / `imprint`).
 *
 * This checks that the reply answers *our* request; the token's signature and chain are checked
 * by `verifyTimeStampToken` with the caller's trust anchors.
 */
export async function requestTimestamp(
  url: string,
  digest: Uint8Array,
  options: RequestTimestampOptions = {},
): Promise<TimestampResult> {
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new StellaError('VALIDATION_FAILED', `TSA URL is not a URL: ${url}`);
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new StellaError('VALIDATION_FAILED', `TSA URL must be http(s), got ${parsedUrl.protocol}`);
  }
  const req = buildTimeStampRequest(digest, {
    hashAlgorithm: options.hashAlgorithm ?? 'sha256',
    certReq: options.certReq ?? true,
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
  });
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let res: Response;
  try {
    res = await fetch(parsedUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/timestamp-query',
        accept: 'application/timestamp-reply',
        ...options.headers,
      },
      body: req.der,
      signal,
      redirect: 'error',
    });
  } catch (err) {
    const why = timeout.aborted ? `no answer within ${options.timeoutMs ?? 30_000} ms` : (err as Error).message;
    throw new StellaError('TIMESTAMP_REQUEST_FAILED', `TSA ${parsedUrl.origin} unreachable: ${why}`, { cause: err });
  }
  let body: Uint8Array;
  try {
    body = await readLimited(res, options.maxResponseBytes ?? 1 << 20);
  } catch (err) {
    if (err instanceof StellaError) throw err;
    throw new StellaError('TIMESTAMP_REQUEST_FAILED', `reading the TSA answer failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/timestamp-reply' && body.byteLength > 0) {
    // A rejection TimeStampResp may come with a 4xx; parse it so the PKIStatus text is reported.
    const parsed = parseTimeStampResponse(body); // throws TIMESTAMP_REQUEST_FAILED on rejection
    if (!res.ok) throw new StellaError('TIMESTAMP_REQUEST_FAILED', `TSA answered HTTP ${res.status}`);
    const info = parsed.token.info;
    if (info.nonce !== req.nonce) {
      throw new StellaError('TIMESTAMP_INVALID', 'TSA reply does not carry our nonce (replayed or foreign token)', {
        details: { check: 'nonce' },
      });
    }
    if (
      info.hashName !== req.hashAlgorithm ||
      Buffer.compare(Buffer.from(info.messageImprint), Buffer.from(req.digest)) !== 0
    ) {
      throw new StellaError('TIMESTAMP_INVALID', 'TSA reply time-stamps a different message imprint', {
        details: { check: 'imprint' },
      });
    }
    return { response: body, token: parsed.token, nonce: req.nonce! };
  }
  throw new StellaError(
    'TIMESTAMP_REQUEST_FAILED',
    `TSA answered HTTP ${res.status} with ${type || 'no content type'}, not application/timestamp-reply`,
    {
      details: { httpStatus: res.status },
    },
  );
}
