/**
 * RFC 3161 §2.4.2 TimeStampResp and the TimeStampToken inside it (a CMS SignedData, RFC 5652,
 * whose eContent is a DER TSTInfo). Parsing only — {@link verifyTimeStampToken} checks it.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { StellaError } from '../errors/index.js';
import { OID, decodeDer, derOf, hashNameFromOid, integerValue, parsePki, type HashName } from './asn1-support.js';

/** PKIStatus names (RFC 3161 §2.4.2). */
export const PKI_STATUS_TEXT: Record<number, string> = {
  0: 'granted',
  1: 'grantedWithMods',
  2: 'rejection',
  3: 'waiting',
  4: 'revocationWarning',
  5: 'revocationNotification',
};

/** PKIFailureInfo bit positions (RFC 3161 §2.4.2). */
export const PKI_FAILURE_BITS = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  systemFailure: 25,
} as const;
/** A PKIFailureInfo flag name. */
export type PkiFailure = keyof typeof PKI_FAILURE_BITS;

/** Accuracy of genTime (RFC 3161 §2.4.2). */
export interface TimeStampAccuracy {
  seconds?: number;
  millis?: number;
  micros?: number;
}

/** The fields of a TSTInfo, decoded. */
export interface TimeStampTokenInfo {
  version: number;
  policy: string;
  /** OID of the message-imprint hash algorithm. */
  hashAlgorithm: string;
  /** Name of that hash when supported. */
  hashName?: HashName;
  messageImprint: Uint8Array;
  serialNumber: bigint;
  genTime: Date;
  accuracy?: TimeStampAccuracy;
  ordering: boolean;
  nonce?: bigint;
  /** The TSA GeneralName rendered as text (`CN=…, O=…` for a directoryName). */
  tsaName?: string;
}

/** A TimeStampToken split into its parts. */
export interface ParsedTimeStampToken {
  /** DER of the ContentInfo (the token itself). */
  der: Uint8Array;
  signedData: pkijs.SignedData;
  /** The exact eContent bytes (DER TSTInfo) that the messageDigest attribute covers. */
  tstInfoDer: Uint8Array;
  info: TimeStampTokenInfo;
}

/** A parsed TimeStampResp. */
export interface ParsedTimeStampResponse {
  status: number;
  statusText: string;
  statusStrings: string[];
  failInfo: PkiFailure[];
  /** Present when the status is granted / grantedWithMods. */
  token?: ParsedTimeStampToken;
}

const RDN_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** Render an X.501 Name (pkijs RelativeDistinguishedNames) as `CN=…, O=…`. */
export function formatName(name: pkijs.RelativeDistinguishedNames): string {
  return name.typesAndValues
    .map((tv) => `${RDN_NAMES[tv.type] ?? tv.type}=${String((tv.value.valueBlock as { value?: unknown }).value ?? '')}`)
    .join(', ');
}

function formatGeneralName(gn: pkijs.GeneralName): string {
  if (gn.type === 4 && gn.value instanceof pkijs.RelativeDistinguishedNames) return formatName(gn.value);
  if (typeof gn.value === 'string') return gn.value;
  return `GeneralName[${gn.type}]`;
}

function failInfoFlags(bits: asn1js.BitString | undefined): PkiFailure[] {
  if (!bits) return [];
  const bytes = bits.valueBlock.valueHexView;
  const out: PkiFailure[] = [];
  for (const [name, bit] of Object.entries(PKI_FAILURE_BITS) as [PkiFailure, number][]) {
    // X.680 BIT STRING numbering: bit 0 is the most significant bit of the first byte.
    const byte = bytes[bit >> 3];
    if (byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0) out.push(name);
  }
  return out;
}

/** Decode the TSTInfo eContent of a SignedData. */
function tstInfoOf(signedData: pkijs.SignedData): { der: Uint8Array; info: TimeStampTokenInfo } {
  const eci = signedData.encapContentInfo;
  if (eci.eContentType !== OID.tstInfo) {
    throw new StellaError('ASN1_MALFORMED', `TimeStampToken: eContentType is ${eci.eContentType}, not id-ct-TSTInfo`);
  }
  if (!(eci.eContent instanceof asn1js.OctetString))
    throw new StellaError('ASN1_MALFORMED', 'TimeStampToken: eContent is missing or not an OCTET STRING');
  const der = new Uint8Array(eci.eContent.getValue());
  const tst = parsePki(der, 'TSTInfo', (schema) => new pkijs.TSTInfo({ schema }));
  if (tst.version !== 1) throw new StellaError('ASN1_MALFORMED', `TSTInfo: unsupported version ${tst.version}`);
  const hashAlgorithm = tst.messageImprint.hashAlgorithm.algorithmId;
  const hashName = hashNameFromOid(hashAlgorithm);
  const genTime = tst.genTime;
  if (!(genTime instanceof Date) || Number.isNaN(genTime.getTime()))
    throw new StellaError('ASN1_MALFORMED', 'TSTInfo: genTime is not a valid time');
  let accuracy: TimeStampAccuracy | undefined;
  if (tst.accuracy) {
    accuracy = {};
    if (tst.accuracy.seconds !== undefined) accuracy.seconds = tst.accuracy.seconds;
    if (tst.accuracy.millis !== undefined) accuracy.millis = tst.accuracy.millis;
    if (tst.accuracy.micros !== undefined) accuracy.micros = tst.accuracy.micros;
  }
  const info: TimeStampTokenInfo = {
    version: tst.version,
    policy: tst.policy,
    hashAlgorithm,
    ...(hashName ? { hashName } : {}),
    messageImprint: new Uint8Array(tst.messageImprint.hashedMessage.getValue()),
    serialNumber: integerValue(tst.serialNumber),
    genTime,
    ...(accuracy ? { accuracy } : {}),
    ordering: tst.ordering === true,
    ...(tst.nonce ? { nonce: integerValue(tst.nonce) } : {}),
    ...(tst.tsa ? { tsaName: formatGeneralName(tst.tsa) } : {}),
  };
  return { der, info };
}

function tokenFromContentInfo(ci: pkijs.ContentInfo, der: Uint8Array): ParsedTimeStampToken {
  try {
    return tokenFromContentInfoUnsafe(ci, der);
  } catch (err) {
    // pkijs leaves unexpected shapes as generic ASN.1 values; any non-coded error while reading
    // them means the structure is not what RFC 3161 / RFC 5652 prescribe.
    if (err instanceof StellaError) throw err;
    throw new StellaError(
      'ASN1_MALFORMED',
      `TimeStampToken: unexpected structure (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
}

function tokenFromContentInfoUnsafe(ci: pkijs.ContentInfo, der: Uint8Array): ParsedTimeStampToken {
  if (ci.contentType !== OID.signedData) {
    throw new StellaError('ASN1_MALFORMED', `TimeStampToken: contentType is ${ci.contentType}, not id-signedData`);
  }
  let signedData: pkijs.SignedData;
  try {
    signedData = new pkijs.SignedData({ schema: ci.content });
  } catch (err) {
    throw new StellaError(
      'ASN1_MALFORMED',
      `TimeStampToken: not a CMS SignedData (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
  if (signedData.signerInfos.length !== 1) {
    // RFC 3161 §2.4.2: "The time-stamp token MUST NOT contain any signatures other than the
    // signature of the TSA."
    throw new StellaError(
      'ASN1_MALFORMED',
      `TimeStampToken: expected exactly one SignerInfo, found ${signedData.signerInfos.length}`,
    );
  }
  const { der: tstInfoDer, info } = tstInfoOf(signedData);
  return { der, signedData, tstInfoDer, info };
}

/** Parse a bare TimeStampToken (DER ContentInfo), e.g. the output of `openssl ts -reply -token_out`. */
export function parseTimeStampToken(der: Uint8Array): ParsedTimeStampToken {
  const ci = parsePki(der, 'TimeStampToken', (schema) => new pkijs.ContentInfo({ schema }));
  return tokenFromContentInfo(ci, new Uint8Array(der));
}

/**
 * Parse a DER TimeStampResp. Garbage → ASN1_MALFORMED. A status other than granted /
 * grantedWithMods → TIMESTAMP_REQUEST_FAILED whose message carries the PKIStatus text, the
 * statusString and failInfo flags (also in `details`).
 */
export function parseTimeStampResponse(der: Uint8Array): ParsedTimeStampResponse & { token: ParsedTimeStampToken } {
  const resp = parseTimeStampResponseStatus(der);
  if (resp.status !== 0 && resp.status !== 1) {
    const extra = [resp.statusStrings.join('; '), resp.failInfo.length ? `failInfo: ${resp.failInfo.join(', ')}` : '']
      .filter(Boolean)
      .join(' — ');
    throw new StellaError('TIMESTAMP_REQUEST_FAILED', `TSA answered ${resp.statusText}${extra ? ` (${extra})` : ''}`, {
      details: {
        status: resp.status,
        statusText: resp.statusText,
        statusStrings: resp.statusStrings,
        failInfo: resp.failInfo,
      },
    });
  }
  if (!resp.token)
    throw new StellaError('ASN1_MALFORMED', `TimeStampResp: status ${resp.statusText} but no timeStampToken`);
  return resp as ParsedTimeStampResponse & { token: ParsedTimeStampToken };
}

/** Parse a TimeStampResp without throwing on a non-granted status (for TSA tests and tooling). */
export function parseTimeStampResponseStatus(der: Uint8Array): ParsedTimeStampResponse {
  const resp = parsePki(der, 'TimeStampResp', (schema) => new pkijs.TimeStampResp({ schema }));
  const status = resp.status.status as number;
  const out: ParsedTimeStampResponse = {
    status,
    statusText: PKI_STATUS_TEXT[status] ?? `unknown(${status})`,
    statusStrings: (resp.status.statusStrings ?? []).map((s) => s.valueBlock.value),
    failInfo: failInfoFlags(resp.status.failInfo),
  };
  if (resp.timeStampToken) out.token = tokenFromContentInfo(resp.timeStampToken, derOf(resp.timeStampToken));
  return out;
}

/**
 * Accept either a TimeStampResp (what `openssl ts -reply` writes and what `.tsr` files usually
 * hold) or a bare TimeStampToken, and return the token. The two are told apart by their first
 * inner element: a TimeStampResp starts with the PKIStatusInfo SEQUENCE, a ContentInfo with an OID.
 */
export function readTimeStampToken(der: Uint8Array): ParsedTimeStampToken & { form: 'response' | 'token' } {
  const top = decodeDer(der, 'time-stamp');
  const first = top instanceof asn1js.Sequence ? top.valueBlock.value[0] : undefined;
  if (first instanceof asn1js.ObjectIdentifier) return { ...parseTimeStampToken(der), form: 'token' };
  if (first instanceof asn1js.Sequence) return { ...parseTimeStampResponse(der).token, form: 'response' };
  throw new StellaError('ASN1_MALFORMED', 'input is neither a TimeStampResp nor a TimeStampToken');
}
