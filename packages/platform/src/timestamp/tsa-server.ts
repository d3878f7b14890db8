/**
 * A small RFC 3161 TSA over HTTP (§3.4 "Time-Stamp Protocol via HTTP") for sites that must run
 * their own, e.g. air-gapped ones. Plain node:http: one POST route, bounded bodies, and every
 * refusal answered with a proper rejection TimeStampResp so RFC 3161 clients see a PKIStatus.
 *
 * Status mapping: 200 granted; 400 rejection (badDataFormat / badAlg / unacceptedPolicy /
 * unacceptedExtension / badRequest); 413 body too large (badDataFormat); 415 wrong Content-Type
 * (badRequest); 405 other methods; 500 signing failure (systemFailure).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyObject } from 'node:crypto';
import {
  createRejectionResponse,
  createTimeStampResponse,
  prepareTsaSigner,
  type PkiFailure,
  type SerialSource,
  type TimeStampAccuracy,
  type TsaSigner,
} from '@stella/core/rfc3161';

/** Options for {@link startTsaServer}. */
export interface TsaServerOptions {
  /** Bind address (default 127.0.0.1 — expose deliberately). */
  host?: string;
  /** Port (default 0 = any free port). */
  port?: number;
  /** PKCS#8 PEM private key (ECDSA P-256/P-384 or RSA) or a KeyObject. */
  key: string | KeyObject;
  /** TSA certificate PEM (critical EKU timeStamping). */
  cert: string | Uint8Array;
  /** Chain certificates (PEM) included when the client sets certReq. */
  chain?: readonly (string | Uint8Array)[];
  /** Default TSA policy OID (required: a policy names the TSA practice statement; there is no neutral default). */
  policy: string;
  acceptedPolicies?: readonly string[];
  accuracy?: TimeStampAccuracy;
  serial?: SerialSource;
  clock?: () => Date;
  /** Maximum request size (default 64 KiB; real requests are < 200 bytes). */
  maxRequestBytes?: number;
  /** Called after every answer (for logs/metrics). */
  onResponse?: (event: {
    status: number;
    granted: boolean;
    failure?: PkiFailure;
    reason?: string;
    serialNumber?: bigint;
  }) => void;
}

/** A running TSA. */
export interface TsaServer {
  url: string;
  port: number;
  server: Server;
  signer: TsaSigner;
  close(): Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  body: Uint8Array,
  type = 'application/timestamp-reply',
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(body.byteLength),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

/** A node:http request handler answering RFC 3161 queries with `signer` (usable in other servers). */
export function createTsaRequestHandler(
  signer: TsaSigner,
  options: Pick<TsaServerOptions, 'maxRequestBytes' | 'onResponse'> = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = options.maxRequestBytes ?? 64 * 1024;
  const notify = options.onResponse ?? (() => {});
  const reject = (
    res: ServerResponse,
    status: number,
    failure: PkiFailure,
    reason: string,
    extra: Record<string, string> = {},
  ) => {
    send(res, status, createRejectionResponse(failure, reason), 'application/timestamp-reply', extra);
    notify({ status, granted: false, failure, reason });
  };
  return (req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      send(res, 200, new TextEncoder().encode('ok\n'), 'text/plain');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      reject(res, 405, 'badRequest', 'use POST with Content-Type application/timestamp-query', { allow: 'POST' });
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/timestamp-query') {
      req.resume();
      reject(res, 415, 'badRequest', `Content-Type must be application/timestamp-query, got ${type || 'none'}`);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(res, 413, 'badDataFormat', `request larger than ${limit} bytes`, { connection: 'close' });
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      total += c.byteLength;
      if (total > limit) {
        over = true;
        chunks.length = 0;
        reject(res, 413, 'badDataFormat', `request larger than ${limit} bytes`, { connection: 'close' });
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (over) return;
      let result: ReturnType<typeof createTimeStampResponse>;
      try {
        result = createTimeStampResponse(new Uint8Array(Buffer.concat(chunks)), signer);
      } catch (err) {
        reject(res, 500, 'systemFailure', 'the TSA could not sign');
        void err;
        return;
      }
      const status = result.granted ? 200 : 400;
      send(res, status, result.der);
      notify({
        status,
        granted: result.granted,
        ...(result.failure ? { failure: result.failure } : {}),
        ...(result.reason ? { reason: result.reason } : {}),
        ...(result.serialNumber !== undefined ? { serialNumber: result.serialNumber } : {}),
      });
    });
  };
}

/**
 * Start the TSA. The key and certificate are checked up front (KEY_INVALID when they do not
 * pair or the certificate lacks the critical timeStamping EKU), so a misconfigured TSA never
 * starts listening.
 */
export async function startTsaServer(options: TsaServerOptions): Promise<TsaServer> {
  const signer = prepareTsaSigner({
    key: options.key,
    certificate: options.cert,
    ...(options.chain ? { chain: options.chain } : {}),
    policy: options.policy,
    ...(options.acceptedPolicies ? { acceptedPolicies: options.acceptedPolicies } : {}),
    ...(options.accuracy ? { accuracy: options.accuracy } : {}),
    ...(options.serial ? { serial: options.serial } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const server = createServer(createTsaRequestHandler(signer, options));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    port: addr.port,
    server,
    signer,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
