/**
 * The signing half of a TSA (RFC 3161 §2.4.2): turn a TimeStampReq into a TimeStampResp holding
 * a CMS SignedData over a TSTInfo. Pure — key, certificates, clock and serial source are injected;
 * the HTTP server lives in `@stella/platform/timestamp`.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { StellaError } from '../errors/index.js';
import {
  HASH_LENGTH,
  OID,
  bytesEqual,
  derOf,
  digest,
  hashOid,
  integerFrom,
  integerValue,
  parseCertificates,
  toArrayBuffer,
} from './asn1-support.js';
import { PKI_FAILURE_BITS, type PkiFailure, type TimeStampAccuracy } from './timestamp-response.js';
import { parseTimeStampRequest, type ImprintHash, type ParsedTimeStampRequest } from './timestamp-request.js';

/** A source of unique, positive TSTInfo serial numbers (RFC 3161 §2.4.2: unique per TSA). */
export type SerialSource = () => bigint;

/**
 * The default serial source: `unixMillis (48 bits) ‖ per-process random (64 bits) ‖ counter (16 bits)`,
 * a 128-bit positive integer (RFC 3161 requires support for up to 160 bits). Within a process the
 * values strictly increase (the millisecond part never goes backwards, even if the clock does);
 * across restarts and replicas the random middle makes a collision negligible without shared
 * state. `random` and `clock` are injectable for tests.
 */
export function createSerialSource(options: { random?: () => Uint8Array; clock?: () => number } = {}): SerialSource {
  const prefixBytes = (options.random ?? (() => randomBytes(8)))();
  if (prefixBytes.byteLength !== 8) throw new StellaError('VALIDATION_FAILED', 'serial prefix must be 8 bytes');
  const prefix = BigInt(`0x${Buffer.from(prefixBytes).toString('hex')}`);
  const clock = options.clock ?? Date.now;
  let lastMs = 0;
  let counter = 0;
  return () => {
    const now = Math.max(clock(), 1);
    if (now > lastMs) {
      lastMs = now;
      counter = 0;
    } else if (++counter > 0xffff) {
      lastMs += 1; // borrow the next millisecond rather than repeat a serial
      counter = 0;
    }
    return (BigInt(lastMs) << 80n) | (prefix << 16n) | BigInt(counter);
  };
}

/** Configuration of a TSA signer. */
export interface TsaSignerOptions {
  /** Signing key: PKCS#8 PEM (ECDSA P-256/P-384 or RSA ≥ 2048) or a KeyObject. */
  key: string | Uint8Array | KeyObject;
  /** The TSA certificate (PEM or DER); needs a critical extendedKeyUsage = timeStamping only. */
  certificate: string | Uint8Array;
  /** Further certificates to include when the request sets certReq (intermediates, root). */
  chain?: readonly (string | Uint8Array)[];
  /** Default TSA policy OID, used when the request names none. */
  policy: string;
  /** Other policies the TSA accepts in `reqPolicy` (RFC 3161 §2.4.1). */
  acceptedPolicies?: readonly string[];
  /** Serial number source (default {@link createSerialSource}). */
  serial?: SerialSource;
  /** Clock (default `new Date()`); genTime is truncated to whole seconds. */
  clock?: () => Date;
  /** Accuracy stated in the token (default 1 second). */
  accuracy?: TimeStampAccuracy;
  /** Put the TSA name (certificate subject) into TSTInfo.tsa (default true). */
  includeTsaName?: boolean;
  /** Accepted imprint hashes (default sha256, sha384, sha512). */
  hashAlgorithms?: readonly ImprintHash[];
}

/** A prepared TSA signer (key and certificate parsed and cross-checked once). */
export interface TsaSigner {
  readonly options: Readonly<TsaSignerOptions>;
  readonly key: KeyObject;
  readonly certificate: pkijs.Certificate;
  readonly chain: readonly pkijs.Certificate[];
  readonly serial: SerialSource;
  readonly hash: ImprintHash;
  readonly signatureAlgorithm: pkijs.AlgorithmIdentifier;
}

/** Result of {@link createTimeStampResponse}. */
export interface TimeStampResponseResult {
  der: Uint8Array;
  granted: boolean;
  /** Set when rejected: the PKIFailureInfo flag and a human reason (also in statusString). */
  failure?: PkiFailure;
  reason?: string;
  serialNumber?: bigint;
  genTime?: Date;
}

/** Prepare a TSA signer; KEY_INVALID when the key, certificate or their pairing is unusable. */
export function prepareTsaSigner(options: TsaSignerOptions): TsaSigner {
  let key: KeyObject;
  try {
    key =
      typeof options.key === 'string' || options.key instanceof Uint8Array
        ? createPrivateKey(
            typeof options.key === 'string'
              ? options.key
              : { key: Buffer.from(options.key), format: 'der', type: 'pkcs8' },
          )
        : options.key;
  } catch (err) {
    throw new StellaError('KEY_INVALID', `TSA key cannot be parsed: ${(err as Error).message}`, { cause: err });
  }
  if (key.type !== 'private') throw new StellaError('KEY_INVALID', 'TSA key must be a private key');
  const certs = parseCertificates(options.certificate);
  if (certs.length !== 1) throw new StellaError('KEY_INVALID', `expected one TSA certificate, found ${certs.length}`);
  const certificate = certs[0]!;
  const chain = options.chain?.length ? parseCertificates(options.chain) : [];

  const certSpki = derOf(certificate.subjectPublicKeyInfo);
  const keySpki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  if (!bytesEqual(certSpki, keySpki))
    throw new StellaError('KEY_INVALID', 'the TSA key does not match the TSA certificate');
  // RFC 3161 §2.3: the TSA certificate MUST carry exactly id-kp-timeStamping, critical.
  const eku = certificate.extensions?.find((e) => e.extnID === OID.extKeyUsage);
  const purposes = (eku?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
  if (!eku || !eku.critical || purposes.length !== 1 || purposes[0] !== OID.kpTimeStamping) {
    throw new StellaError(
      'KEY_INVALID',
      'the TSA certificate needs extendedKeyUsage = critical, timeStamping (RFC 3161 §2.3)',
    );
  }

  let hash: ImprintHash = 'sha256';
  let sigOid: string;
  let params: asn1js.AsnType | undefined;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') sigOid = OID.ecdsaWithSha256;
    else if (curve === 'secp384r1') {
      sigOid = OID.ecdsaWithSha384;
      hash = 'sha384';
    } else throw new StellaError('KEY_INVALID', `unsupported EC curve ${curve ?? '?'} (use P-256 or P-384)`);
  } else if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      throw new StellaError('KEY_INVALID', 'RSA TSA keys must have at least 2048 bits');
    sigOid = OID.sha256WithRsa;
    params = new asn1js.Null(); // RFC 4055 §5: parameters NULL for sha256WithRSAEncryption
  } else {
    throw new StellaError('KEY_INVALID', `unsupported TSA key type ${key.asymmetricKeyType ?? '?'} (use ECDSA or RSA)`);
  }
  // RFC 5758 §3.2: ecdsa-with-SHA* AlgorithmIdentifiers have absent parameters.
  const signatureAlgorithm = new pkijs.AlgorithmIdentifier({
    algorithmId: sigOid,
    ...(params ? { algorithmParams: params } : {}),
  });
  return { options, key, certificate, chain, serial: options.serial ?? createSerialSource(), hash, signatureAlgorithm };
}

function attr(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/** signingCertificateV2 (RFC 5816): ESSCertIDv2 { certHash (SHA-256: hashAlgorithm DEFAULT, omitted), issuerSerial }. */
const essCache = new WeakMap<pkijs.Certificate, pkijs.Attribute>();
function essCertIdV2Attribute(cert: pkijs.Certificate): pkijs.Attribute {
  const cached = essCache.get(cert);
  if (cached) return cached;
  const issuerSerial = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 4 }, value: [cert.issuer.toSchema()] })],
      }),
      cert.serialNumber,
    ],
  });
  const signingCertV2 = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [
          new asn1js.Sequence({
            value: [new asn1js.OctetString({ valueHex: toArrayBuffer(digest('sha256', derOf(cert))) }), issuerSerial],
          }),
        ],
      }),
    ],
  });
  const a = attr(OID.attrSigningCertificateV2, signingCertV2);
  essCache.set(cert, a); // computed once per certificate, not per token
  return a;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Issue a TimeStampToken (DER ContentInfo) for an already validated request. The signed
 * attributes are contentType, signingTime, messageDigest and signingCertificateV2 (RFC 5816,
 * SHA-256 ESSCertIDv2 with issuerSerial), sorted as DER requires for a SET OF.
 */
export function createTimeStampToken(
  request: ParsedTimeStampRequest,
  signer: TsaSigner,
  policy = signer.options.policy,
): { der: Uint8Array; serialNumber: bigint; genTime: Date } {
  const now = (signer.options.clock ?? (() => new Date()))();
  const genTime = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const serialNumber = signer.serial();
  const accuracy = signer.options.accuracy ?? { seconds: 1 };
  const tst = new pkijs.TSTInfo({
    version: 1,
    policy,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: request.hashAlgorithm,
        algorithmParams: new asn1js.Null(),
      }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(request.digest) }),
    }),
    serialNumber: integerFrom(serialNumber),
    genTime,
    accuracy: new pkijs.Accuracy({
      ...(accuracy.seconds !== undefined ? { seconds: accuracy.seconds } : {}),
      ...(accuracy.millis !== undefined ? { millis: accuracy.millis } : {}),
      ...(accuracy.micros !== undefined ? { micros: accuracy.micros } : {}),
    }),
    ...(request.nonce ? { nonce: request.nonce } : {}),
    ...(signer.options.includeTsaName !== false
      ? { tsa: new pkijs.GeneralName({ type: 4, value: signer.certificate.subject }) }
      : {}),
  });
  const tstDer = derOf(tst);
  const attributes = [
    attr(OID.attrContentType, new asn1js.ObjectIdentifier({ value: OID.tstInfo })),
    attr(OID.attrSigningTime, new asn1js.UTCTime({ valueDate: genTime })),
    attr(OID.attrMessageDigest, new asn1js.OctetString({ valueHex: toArrayBuffer(digest(signer.hash, tstDer)) })),
    essCertIdV2Attribute(signer.certificate),
  ]
    .map((a) => ({ a, der: derOf(a) }))
    .sort((x, y) => compareBytes(x.der, y.der)) // X.690 §11.6: SET OF components in ascending order
    .map((x) => x.a);
  const signedAttrsSet = new Uint8Array(new asn1js.Set({ value: attributes.map((a) => a.toSchema()) }).toBER(false));
  const signature = cryptoSign(signer.hash, signedAttrsSet, signer.key);

  const digestAlgorithm = new pkijs.AlgorithmIdentifier({
    algorithmId: hashOid(signer.hash),
    algorithmParams: new asn1js.Null(),
  });
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({
      issuer: signer.certificate.issuer,
      serialNumber: signer.certificate.serialNumber,
    }),
    digestAlgorithm,
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes }),
    signatureAlgorithm: signer.signatureAlgorithm,
    signature: new asn1js.OctetString({ valueHex: toArrayBuffer(new Uint8Array(signature)) }),
  });
  const signedData = new pkijs.SignedData({
    version: 3, // RFC 5652 §5.1: eContentType other than id-data
    digestAlgorithms: [digestAlgorithm],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: OID.tstInfo,
      eContent: new asn1js.OctetString({ valueHex: toArrayBuffer(tstDer) }),
    }),
    ...(request.certReq ? { certificates: [signer.certificate, ...signer.chain] } : {}),
    signerInfos: [signerInfo],
  });
  const ci = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema() });
  return { der: derOf(ci), serialNumber, genTime };
}

/** DER SEQUENCE of already-encoded elements (X.690 §8.9, definite length). */
function derSequence(parts: readonly Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.byteLength, 0);
  const lenBytes: number[] = [];
  if (len < 0x80) lenBytes.push(len);
  else {
    for (let v = len; v > 0; v = Math.floor(v / 256)) lenBytes.unshift(v & 0xff);
    lenBytes.unshift(0x80 | lenBytes.length);
  }
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, ...lenBytes]), ...parts.map((p) => Buffer.from(p))]));
}

function failInfoBits(failure: PkiFailure): asn1js.BitString {
  const bit = PKI_FAILURE_BITS[failure];
  const bytes = new Uint8Array((bit >> 3) + 1);
  bytes[bit >> 3] = 0x80 >> (bit & 7);
  // DER named-bit BIT STRING: trailing zero bits are removed (X.690 §11.2.2).
  return new asn1js.BitString({ valueHex: toArrayBuffer(bytes), unusedBits: 7 - (bit & 7) });
}

/** A DER TimeStampResp with status rejection (2), a statusString and one failInfo flag. */
export function createRejectionResponse(failure: PkiFailure, reason: string): Uint8Array {
  const resp = new pkijs.TimeStampResp({
    status: new pkijs.PKIStatusInfo({
      status: 2,
      statusStrings: [new asn1js.Utf8String({ value: reason })],
      failInfo: failInfoBits(failure),
    }),
  });
  return derOf(resp);
}

/**
 * Answer a DER TimeStampReq: a granted TimeStampResp, or a rejection with the PKIFailureInfo the
 * RFC prescribes (badDataFormat for undecodable input, badAlg for an unsupported hash or a wrong
 * imprint length, unacceptedPolicy, unacceptedExtension). Never throws for bad requests.
 */
export function createTimeStampResponse(requestDer: Uint8Array, signer: TsaSigner): TimeStampResponseResult {
  const reject = (failure: PkiFailure, reason: string): TimeStampResponseResult => ({
    der: createRejectionResponse(failure, reason),
    granted: false,
    failure,
    reason,
  });
  let req: ParsedTimeStampRequest;
  try {
    req = parseTimeStampRequest(requestDer);
  } catch (err) {
    return reject('badDataFormat', `request is not a DER TimeStampReq: ${(err as Error).message}`);
  }
  if (req.version !== 1) return reject('badRequest', `unsupported TimeStampReq version ${req.version}`);
  const allowed = signer.options.hashAlgorithms ?? ['sha256', 'sha384', 'sha512'];
  if (!req.hashName || req.hashName === 'sha1' || !allowed.includes(req.hashName)) {
    return reject('badAlg', `unsupported message imprint hash algorithm ${req.hashAlgorithm}`);
  }
  if (req.digest.byteLength !== HASH_LENGTH[req.hashName]) {
    return reject(
      'badDataFormat',
      `a ${req.hashName} imprint has ${HASH_LENGTH[req.hashName]} bytes, got ${req.digest.byteLength}`,
    );
  }
  if (req.hasExtensions) return reject('unacceptedExtension', 'this TSA supports no request extensions');
  const policies = [signer.options.policy, ...(signer.options.acceptedPolicies ?? [])];
  if (req.policy !== undefined && !policies.includes(req.policy))
    return reject('unacceptedPolicy', `policy ${req.policy} is not offered`);
  if (req.nonce && integerValue(req.nonce) < 0n) {
    return reject('badRequest', 'nonce must be positive');
  }
  const token = createTimeStampToken(req, signer, req.policy ?? signer.options.policy);
  // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken } — concatenated directly
  // rather than re-parsing the token into pkijs objects (a third of the signing time).
  const status = derOf(new pkijs.PKIStatusInfo({ status: 0 }));
  const resp = derSequence([status, token.der]);
  return { der: resp, granted: true, serialNumber: token.serialNumber, genTime: token.genTime };
}
