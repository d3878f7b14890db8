/**
 * RFC 3161 time-stamping (with RFC 5816 ESSCertIDv2): build requests, parse responses and tokens,
 * verify tokens against trust anchors, and issue tokens as a TSA. No I/O — the HTTP client and
 * server are in `@stella/platform/timestamp`. Format notes: docs/formats/timestamps.md.
 */
export {
  OID,
  HASH_LENGTH,
  digest as hashBytes,
  hashNameFromOid,
  parseCertificates,
  pemOrDerBlocks,
  type HashName,
} from './asn1-support.js';
export {
  buildTimeStampRequest,
  parseTimeStampRequest,
  randomNonce,
  requestNonce,
  type BuiltTimeStampRequest,
  type ImprintHash,
  type ParsedTimeStampRequest,
  type TimeStampRequestOptions,
} from './timestamp-request.js';
export {
  PKI_FAILURE_BITS,
  PKI_STATUS_TEXT,
  formatName,
  parseTimeStampResponse,
  parseTimeStampResponseStatus,
  parseTimeStampToken,
  readTimeStampToken,
  type ParsedTimeStampResponse,
  type ParsedTimeStampToken,
  type PkiFailure,
  type TimeStampAccuracy,
  type TimeStampTokenInfo,
} from './timestamp-response.js';
export {
  verifyTimeStampToken,
  type TimeStampCheck,
  type VerifiedTimeStamp,
  type VerifyTimeStampOptions,
} from './timestamp-verify.js';
export {
  createRejectionResponse,
  createSerialSource,
  createTimeStampResponse,
  createTimeStampToken,
  prepareTsaSigner,
  type SerialSource,
  type TimeStampResponseResult,
  type TsaSigner,
  type TsaSignerOptions,
} from './timestamp-authority.js';
