/**
 * RFC 3161 §2.4.1 TimeStampReq: building (client side) and parsing (TSA side).
 */
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { StellaError } from '../errors/index.js';
import {
  HASH_LENGTH,
  derOf,
  hashNameFromOid,
  hashOid,
  integerFrom,
  integerValue,
  parsePki,
  toArrayBuffer,
  type HashName,
} from './asn1-support.js';

/** Hash algorithms a message imprint may use (SHA-1 is refused: RFC 5816 and current practice). */
export type ImprintHash = Exclude<HashName, 'sha1'>;

/** Options for {@link buildTimeStampRequest}. */
export interface TimeStampRequestOptions {
  /** Hash algorithm that produced `digest` (default `sha256`). */
  hashAlgorithm?: ImprintHash;
  /**
   * Nonce (RFC 3161 §2.4.1: "a large random number with a high probability that the client
   * generates it only once"). Default: 8 random bytes with the top bit cleared so the INTEGER is
   * positive. Pass `false` to send none.
   */
  nonce?: bigint | Uint8Array | false;
  /** Ask the TSA to include its certificate in the token (default true). */
  certReq?: boolean;
  /** Requested TSA policy OID. */
  policy?: string;
}

/** A built request: its DER bytes and the nonce that the response must echo. */
export interface BuiltTimeStampRequest {
  der: Uint8Array;
  nonce?: bigint;
  hashAlgorithm: ImprintHash;
  digest: Uint8Array;
}

/** A parsed TimeStampReq. */
export interface ParsedTimeStampRequest {
  version: number;
  hashAlgorithm: string;
  /** Hash name when the OID is one we support. */
  hashName?: HashName;
  digest: Uint8Array;
  policy?: string;
  nonce?: asn1js.Integer;
  certReq: boolean;
  hasExtensions: boolean;
}

/** A positive random nonce of `bytes` length (top bit clear so DER keeps it positive). */
export function randomNonce(bytes = 8): bigint {
  const b = randomBytes(bytes);
  b[0] = b[0]! & 0x7f;
  return BigInt(`0x${b.toString('hex')}`);
}

/**
 * Build a DER TimeStampReq for a precomputed digest (RFC 3161 §2.4.1). The digest length must
 * match the hash algorithm.
 */
export function buildTimeStampRequest(
  digest: Uint8Array,
  options: TimeStampRequestOptions = {},
): BuiltTimeStampRequest {
  const hashAlgorithm = options.hashAlgorithm ?? 'sha256';
  if (!(hashAlgorithm in HASH_LENGTH) || (hashAlgorithm as string) === 'sha1') {
    throw new StellaError('VALIDATION_FAILED', `unsupported hash algorithm ${hashAlgorithm}`);
  }
  if (digest.byteLength !== HASH_LENGTH[hashAlgorithm]) {
    throw new StellaError(
      'VALIDATION_FAILED',
      `a ${hashAlgorithm} digest has ${HASH_LENGTH[hashAlgorithm]} bytes, got ${digest.byteLength}`,
    );
  }
  let nonce: bigint | undefined;
  if (options.nonce === undefined) nonce = randomNonce();
  else if (options.nonce === false) nonce = undefined;
  else if (typeof options.nonce === 'bigint') nonce = options.nonce;
  else nonce = options.nonce.byteLength ? BigInt(`0x${Buffer.from(options.nonce).toString('hex')}`) : 0n;
  if (nonce !== undefined && nonce < 0n) throw new StellaError('VALIDATION_FAILED', 'nonce must be positive');

  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: hashOid(hashAlgorithm),
        algorithmParams: new asn1js.Null(),
      }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(digest) }),
    }),
    ...(options.policy ? { reqPolicy: options.policy } : {}),
    ...(nonce !== undefined ? { nonce: integerFrom(nonce) } : {}),
    // certReq DEFAULT FALSE: DER omits a default value, so only encode it when true (X.690 §11.5).
    ...((options.certReq ?? true) ? { certReq: true } : {}),
  });
  return { der: derOf(req), ...(nonce !== undefined ? { nonce } : {}), hashAlgorithm, digest: new Uint8Array(digest) };
}

/** Parse a DER TimeStampReq (ASN1_MALFORMED when it is not one). */
export function parseTimeStampRequest(der: Uint8Array): ParsedTimeStampRequest {
  const req = parsePki(der, 'TimeStampReq', (schema) => new pkijs.TimeStampReq({ schema }));
  const hashAlgorithm = req.messageImprint.hashAlgorithm.algorithmId;
  const hashName = hashNameFromOid(hashAlgorithm);
  return {
    version: req.version,
    hashAlgorithm,
    ...(hashName ? { hashName } : {}),
    digest: new Uint8Array(req.messageImprint.hashedMessage.valueBlock.valueHexView),
    ...(req.reqPolicy ? { policy: req.reqPolicy } : {}),
    ...(req.nonce ? { nonce: req.nonce } : {}),
    certReq: req.certReq === true,
    hasExtensions: Array.isArray(req.extensions) && req.extensions.length > 0,
  };
}

/** The nonce of a parsed request as a bigint. */
export function requestNonce(req: ParsedTimeStampRequest): bigint | undefined {
  return req.nonce ? integerValue(req.nonce) : undefined;
}
