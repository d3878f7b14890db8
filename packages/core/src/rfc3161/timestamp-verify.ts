/**
 * Verification of an RFC 3161 TimeStampToken. Every check is explicit and named so a failure says
 * exactly what broke (`TIMESTAMP_INVALID` with `details.check`):
 *
 * | check                  | what                                                                    |
 * |------------------------|-------------------------------------------------------------------------|
 * | `imprint`              | TSTInfo.messageImprint = hash(data) with the token's hash algorithm     |
 * | `nonce`                | TSTInfo.nonce = the request nonce (when the caller gives one)           |
 * | `policy`               | TSTInfo.policy = the expected policy (when given)                       |
 * | `signer-certificate`   | the SignerInfo sid names a certificate we have                          |
 * | `content-type`         | signed attribute contentType = id-ct-TSTInfo (RFC 5652 §11.1)           |
 * | `message-digest`       | signed attribute messageDigest = hash(eContent) (RFC 5652 §11.2)        |
 * | `ess-cert-id`          | signingCertificate(V2) binds the signer certificate (RFC 3161 §2.4.1, RFC 5816) |
 * | `signature`            | the CMS signature over DER(signedAttrs) verifies with the signer key    |
 * | `eku`                  | signer has exactly id-kp-timeStamping, marked critical (RFC 3161 §2.3)  |
 * | `certificate-validity` | genTime lies within the signer certificate's validity                   |
 * | `chain`                | signer is the end entity of a valid path to `trustedCerts` at genTime (certificate-path.ts) |
 * | `gen-time`             | genTime within [notBefore, notAfter] and not after now + clock skew      |
 */
import { createPublicKey, verify as cryptoVerify, constants as cryptoConstants, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { StellaError } from '../errors/index.js';
import {
  OID,
  bytesEqual,
  decodeDer,
  derOf,
  digest,
  ensurePkijsEngine,
  hashNameFromOid,
  parseCertificates,
  toHex,
  type HashName,
} from './asn1-support.js';
import { validateCertificatePath } from './certificate-path.js';
import {
  formatName,
  readTimeStampToken,
  type ParsedTimeStampToken,
  type TimeStampAccuracy,
} from './timestamp-response.js';

/** Names of the checks {@link verifyTimeStampToken} performs, in order. */
export type TimeStampCheck =
  | 'imprint'
  | 'nonce'
  | 'policy'
  | 'signer-certificate'
  | 'content-type'
  | 'message-digest'
  | 'ess-cert-id'
  | 'signature'
  | 'eku'
  | 'certificate-validity'
  | 'chain'
  | 'gen-time';

type CertInput = Uint8Array | string;

/** Options for {@link verifyTimeStampToken}. Give exactly one of `data` or `digest`. */
export interface VerifyTimeStampOptions {
  /** The time-stamped bytes; hashed with the token's imprint algorithm. */
  data?: Uint8Array;
  /** The precomputed digest of the time-stamped data (for streamed files). */
  digest?: Uint8Array;
  /** Algorithm that produced `digest`; when given it must equal the token's. */
  digestAlgorithm?: HashName;
  /** Trust anchors: CA certificates as PEM (one or more blocks) or DER. Required. */
  trustedCerts: readonly CertInput[];
  /** Extra untrusted certificates (signer / intermediates) when the token carries none (certReq=false). */
  certificates?: readonly CertInput[];
  /** Nonce sent in the request; the token must echo it. */
  nonce?: bigint;
  /** Expected TSA policy OID. */
  policy?: string;
  /** Reject tokens whose genTime is before this. */
  notBefore?: Date;
  /** Reject tokens whose genTime is after this. */
  notAfter?: Date;
  /** Reference "now" (default: the current time); genTime may not exceed now + `maxClockSkewMs`. */
  now?: Date;
  /** Allowed clock difference between TSA and verifier (default 5 minutes). */
  maxClockSkewMs?: number;
}

/** What a verified token says. */
export interface VerifiedTimeStamp {
  genTime: Date;
  serialNumber: bigint;
  policy: string;
  tsaName?: string;
  accuracy?: TimeStampAccuracy;
  hashAlgorithm: HashName;
  messageImprint: Uint8Array;
  nonce?: bigint;
  ordering: boolean;
  /** Signer subject, issuer and serial (hex). */
  signer: { subject: string; issuer: string; serialNumber: string };
  /** Subjects from the signer up to the trust anchor. */
  chain: string[];
}

function fail(check: TimeStampCheck, message: string, extra: Record<string, unknown> = {}): never {
  throw new StellaError('TIMESTAMP_INVALID', `time-stamp ${check} check failed: ${message}`, {
    details: { check, ...extra },
  });
}

function attribute(signerInfo: pkijs.SignerInfo, oid: string): pkijs.Attribute | undefined {
  const attrs = signerInfo.signedAttrs?.attributes ?? [];
  const found = attrs.filter((a) => a.type === oid);
  if (found.length > 1)
    fail(
      oid === OID.attrMessageDigest ? 'message-digest' : 'content-type',
      `signed attribute ${oid} appears ${found.length} times`,
    );
  return found[0];
}

function certSki(cert: pkijs.Certificate): Uint8Array | undefined {
  const ext = cert.extensions?.find((e) => e.extnID === '2.5.29.14');
  if (!ext) return undefined;
  const inner = decodeDer(new Uint8Array(ext.extnValue.getValue()), 'subjectKeyIdentifier');
  return inner instanceof asn1js.OctetString ? new Uint8Array(inner.getValue()) : undefined;
}

/**
 * The certificate the SignerInfo sid names. Two different certificates answering to one sid are
 * refused: the signer must be unambiguous before anything is checked against it.
 */
function findSigner(signerInfo: pkijs.SignerInfo, certs: pkijs.Certificate[]): pkijs.Certificate | undefined {
  const sid = signerInfo.sid as unknown;
  let matches: pkijs.Certificate[];
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    matches = certs.filter((c) => c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber));
  } else {
    // [0] IMPLICIT SubjectKeyIdentifier (RFC 5652 §5.3).
    const view = (sid as { valueBlock?: { valueHexView?: Uint8Array } }).valueBlock?.valueHexView;
    if (!view) return undefined;
    matches = certs.filter((c) => {
      const ski = certSki(c);
      return ski !== undefined && bytesEqual(ski, view);
    });
  }
  const distinct = matches.filter((c, i) => matches.findIndex((d) => bytesEqual(derOf(c), derOf(d))) === i);
  if (distinct.length > 1) fail('signer-certificate', `${distinct.length} different certificates match the signer id`);
  return distinct[0];
}

/** ESS: SigningCertificate (v1, SHA-1 ids) or SigningCertificateV2 (alg inside, default SHA-256). */
function checkEssCertId(signerInfo: pkijs.SignerInfo, signer: pkijs.Certificate): void {
  const v2 = attribute(signerInfo, OID.attrSigningCertificateV2);
  const v1 = attribute(signerInfo, OID.attrSigningCertificate);
  const attr = v2 ?? v1;
  // RFC 3161 §2.4.1 requires the TSA to include ESS signingCertificate; RFC 5816 allows V2.
  if (!attr) fail('ess-cert-id', 'no signingCertificate / signingCertificateV2 signed attribute');
  const certDer = derOf(signer);
  try {
    const sc = attr.values[0];
    if (!(sc instanceof asn1js.Sequence)) throw new Error('SigningCertificate is not a SEQUENCE');
    const certs = sc.valueBlock.value[0];
    if (!(certs instanceof asn1js.Sequence) || certs.valueBlock.value.length === 0) throw new Error('no ESSCertID');
    const first = certs.valueBlock.value[0];
    if (!(first instanceof asn1js.Sequence)) throw new Error('ESSCertID is not a SEQUENCE');
    const parts = first.valueBlock.value;
    let hashName: HashName = v2 ? 'sha256' : 'sha1';
    let idx = 0;
    if (v2 && parts[0] instanceof asn1js.Sequence) {
      // ESSCertIDv2.hashAlgorithm AlgorithmIdentifier DEFAULT {algorithm id-sha256}
      const alg = new pkijs.AlgorithmIdentifier({ schema: parts[0] });
      const name = hashNameFromOid(alg.algorithmId);
      if (!name) throw new Error(`unsupported ESSCertIDv2 hash ${alg.algorithmId}`);
      hashName = name;
      idx = 1;
    }
    const hash = parts[idx];
    if (!(hash instanceof asn1js.OctetString)) throw new Error('certHash is not an OCTET STRING');
    if (!bytesEqual(new Uint8Array(hash.getValue()), digest(hashName, certDer))) {
      fail('ess-cert-id', `the ${v2 ? 'ESSCertIDv2' : 'ESSCertID'} hash does not match the signer certificate`);
    }
    const issuerSerial = parts[idx + 1];
    if (issuerSerial instanceof asn1js.Sequence) {
      // IssuerSerial { issuer GeneralNames, serialNumber } — the serial must be the signer's.
      const serial = issuerSerial.valueBlock.value[1];
      if (!(serial instanceof asn1js.Integer) || !serial.isEqual(signer.serialNumber)) {
        fail('ess-cert-id', 'ESS issuerSerial does not name the signer certificate');
      }
    }
  } catch (err) {
    if (err instanceof StellaError) throw err;
    fail('ess-cert-id', `malformed signingCertificate attribute: ${(err as Error).message}`);
  }
}

function nodeHash(name: HashName): string {
  return name;
}

function verifySignature(signerInfo: pkijs.SignerInfo, signer: pkijs.Certificate): void {
  const data = new Uint8Array(signerInfo.signedAttrs!.encodedValue); // already re-tagged as SET (0x31) by pkijs
  const sig = new Uint8Array(signerInfo.signature.getValue());
  const sigAlg = signerInfo.signatureAlgorithm.algorithmId;
  const digestName = hashNameFromOid(signerInfo.digestAlgorithm.algorithmId);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(derOf(signer.subjectPublicKeyInfo)), format: 'der', type: 'spki' });
  } catch (err) {
    fail('signature', `signer public key unusable: ${(err as Error).message}`);
  }
  const byOid: Record<string, HashName> = {
    [OID.ecdsaWithSha256]: 'sha256',
    [OID.ecdsaWithSha384]: 'sha384',
    [OID.ecdsaWithSha512]: 'sha512',
    [OID.sha256WithRsa]: 'sha256',
    [OID.sha384WithRsa]: 'sha384',
    [OID.sha512WithRsa]: 'sha512',
  };
  let ok = false;
  try {
    if (byOid[sigAlg]) {
      ok = cryptoVerify(nodeHash(byOid[sigAlg]), data, key, sig);
    } else if (sigAlg === OID.rsaEncryption || sigAlg === OID.ecPublicKey) {
      // Some signers put the key algorithm here and rely on digestAlgorithm (RFC 5652 §5.3, RFC 5754).
      if (!digestName || digestName === 'sha1')
        fail('signature', `unsupported digest algorithm ${signerInfo.digestAlgorithm.algorithmId}`);
      ok = cryptoVerify(nodeHash(digestName), data, key, sig);
    } else if (sigAlg === OID.rsassaPss) {
      const params = new pkijs.RSASSAPSSParams({ schema: signerInfo.signatureAlgorithm.algorithmParams });
      const h = hashNameFromOid(params.hashAlgorithm.algorithmId);
      if (!h) fail('signature', `unsupported RSASSA-PSS hash ${params.hashAlgorithm.algorithmId}`);
      ok = cryptoVerify(
        nodeHash(h),
        data,
        { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength },
        sig,
      );
    } else if (sigAlg === OID.ed25519) {
      ok = cryptoVerify(null, data, key, sig);
    } else {
      fail('signature', `unsupported signature algorithm ${sigAlg}`);
    }
  } catch (err) {
    if (err instanceof StellaError) throw err;
    ok = false;
  }
  if (!ok) fail('signature', 'the CMS signature does not verify with the signer certificate key');
}

function checkEku(cert: pkijs.Certificate): void {
  const ext = cert.extensions?.filter((e) => e.extnID === OID.extKeyUsage) ?? [];
  if (ext.length !== 1)
    fail('eku', ext.length ? 'more than one extendedKeyUsage extension' : 'signer certificate has no extendedKeyUsage');
  const e = ext[0]!;
  if (!e.critical) fail('eku', 'extendedKeyUsage must be critical (RFC 3161 §2.3)');
  const purposes = (e.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
  if (purposes.length !== 1 || purposes[0] !== OID.kpTimeStamping) {
    fail('eku', `extendedKeyUsage must be exactly id-kp-timeStamping, found ${purposes.join(', ') || 'none'}`);
  }
}

function certLabel(cert: pkijs.Certificate): string {
  return formatName(cert.subject);
}

/**
 * Verify a TimeStampToken (or a TimeStampResp holding one) against the time-stamped data and the
 * configured trust anchors. Throws `TIMESTAMP_INVALID` (details.check names the failed check),
 * `ASN1_MALFORMED` for undecodable input, `TIMESTAMP_REQUEST_FAILED` for a rejection response.
 */
export async function verifyTimeStampToken(
  token: Uint8Array | ParsedTimeStampToken,
  options: VerifyTimeStampOptions,
): Promise<VerifiedTimeStamp> {
  try {
    return await verifyUnsafe(token, options);
  } catch (err) {
    // Safety net: a structure pkijs decoded but we did not anticipate must still be a coded
    // failure, never a TypeError and never a pass.
    if (err instanceof StellaError) throw err;
    throw new StellaError(
      'ASN1_MALFORMED',
      `time-stamp token has an unexpected structure: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

async function verifyUnsafe(
  token: Uint8Array | ParsedTimeStampToken,
  options: VerifyTimeStampOptions,
): Promise<VerifiedTimeStamp> {
  ensurePkijsEngine();
  const parsed = token instanceof Uint8Array ? readTimeStampToken(token) : token;
  const { info, signedData, tstInfoDer } = parsed;
  const signerInfo = signedData.signerInfos[0]!;

  // 1. Message imprint (RFC 3161 §2.4.2: the TSA must echo the request's imprint).
  const hashName = info.hashName;
  if (!hashName || hashName === 'sha1') fail('imprint', `unsupported imprint hash algorithm ${info.hashAlgorithm}`);
  if ((options.data === undefined) === (options.digest === undefined)) {
    throw new StellaError('VALIDATION_FAILED', 'give exactly one of data or digest');
  }
  if (options.digestAlgorithm && options.digestAlgorithm !== hashName) {
    fail('imprint', `token uses ${hashName}, the given digest is ${options.digestAlgorithm}`);
  }
  const expected = options.data !== undefined ? digest(hashName, options.data) : options.digest!;
  if (!bytesEqual(expected, info.messageImprint))
    fail('imprint', 'the message imprint does not match the data (data or token was altered)');

  // 2. Nonce / policy (replay protection and policy pinning, RFC 3161 §2.4.2).
  if (options.nonce !== undefined && info.nonce !== options.nonce) {
    fail(
      'nonce',
      `expected nonce ${options.nonce.toString(16)}, token has ${info.nonce === undefined ? 'none' : info.nonce.toString(16)}`,
    );
  }
  if (options.policy !== undefined && info.policy !== options.policy)
    fail('policy', `expected policy ${options.policy}, token has ${info.policy}`);

  // 3. Find the signer certificate among the token's and the caller's certificates.
  const tokenCerts = (signedData.certificates ?? []).filter(
    (c): c is pkijs.Certificate => c instanceof pkijs.Certificate,
  );
  const extra = options.certificates?.length ? parseCertificates(options.certificates) : [];
  const trusted = parseCertificates(options.trustedCerts);
  if (trusted.length === 0)
    throw new StellaError('VALIDATION_FAILED', 'at least one trusted CA certificate is required');
  const pool = [...tokenCerts, ...extra];
  const signer = findSigner(signerInfo, [...pool, ...trusted]);
  if (!signer)
    fail('signer-certificate', 'the signer certificate is neither in the token nor among the given certificates');

  // 4. Signed attributes (RFC 5652 §5.3: with a non-data eContentType they are mandatory).
  if (!signerInfo.signedAttrs || signerInfo.signedAttrs.attributes.length === 0)
    fail('content-type', 'SignerInfo has no signed attributes');
  const ct = attribute(signerInfo, OID.attrContentType);
  const ctValue = ct?.values[0];
  if (!(ctValue instanceof asn1js.ObjectIdentifier) || ctValue.valueBlock.toString() !== OID.tstInfo) {
    fail('content-type', 'contentType signed attribute is missing or not id-ct-TSTInfo');
  }
  const md = attribute(signerInfo, OID.attrMessageDigest);
  const mdValue = md?.values[0];
  const digestName = hashNameFromOid(signerInfo.digestAlgorithm.algorithmId);
  if (!digestName) fail('message-digest', `unsupported digest algorithm ${signerInfo.digestAlgorithm.algorithmId}`);
  if (
    !(mdValue instanceof asn1js.OctetString) ||
    !bytesEqual(new Uint8Array(mdValue.getValue()), digest(digestName, tstInfoDer))
  ) {
    fail('message-digest', 'messageDigest signed attribute does not match the TSTInfo (token content was altered)');
  }
  checkEssCertId(signerInfo, signer);

  // 5. The signature itself.
  verifySignature(signerInfo, signer);

  // 6. Certificate policy: EKU, validity at genTime, chain to a configured CA.
  checkEku(signer);
  const genTime = info.genTime;
  if (genTime < signer.notBefore.value || genTime > signer.notAfter.value) {
    fail(
      'certificate-validity',
      `genTime ${genTime.toISOString()} is outside the signer certificate validity ${signer.notBefore.value.toISOString()} – ${signer.notAfter.value.toISOString()}`,
    );
  }
  // The signer is the end entity of the path, whatever else the token carries (RFC 5280 §6.1).
  const chain = await validateCertificatePath(signer, { intermediates: pool, trustAnchors: trusted, time: genTime });
  if (!chain.ok) fail('chain', `the signer does not chain to a trusted CA: ${chain.reasons.join('; ')}`);

  // 7. genTime bounds.
  if (options.notBefore && genTime < options.notBefore)
    fail('gen-time', `genTime ${genTime.toISOString()} is before ${options.notBefore.toISOString()}`);
  if (options.notAfter && genTime > options.notAfter)
    fail('gen-time', `genTime ${genTime.toISOString()} is after ${options.notAfter.toISOString()}`);
  const now = options.now ?? new Date();
  const skew = options.maxClockSkewMs ?? 5 * 60_000;
  if (genTime.getTime() > now.getTime() + skew) fail('gen-time', `genTime ${genTime.toISOString()} is in the future`);

  return {
    genTime,
    serialNumber: info.serialNumber,
    policy: info.policy,
    ...(info.tsaName ? { tsaName: info.tsaName } : {}),
    ...(info.accuracy ? { accuracy: info.accuracy } : {}),
    hashAlgorithm: hashName,
    messageImprint: info.messageImprint,
    ...(info.nonce !== undefined ? { nonce: info.nonce } : {}),
    ordering: info.ordering,
    signer: {
      subject: certLabel(signer),
      issuer: formatName(signer.issuer),
      serialNumber: toHex(new Uint8Array(signer.serialNumber.valueBlock.valueHexView)),
    },
    chain: chain.path.map(certLabel),
  };
}
