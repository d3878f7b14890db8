/**
 * Shared ASN.1 plumbing for the RFC 3161 module: strict DER decoding with coded errors, the OIDs
 * we recognise, hash helpers and the pkijs crypto-engine setup. Crypto is not I/O, so using
 * Node's WebCrypto here keeps core free of fs/net (DESIGN.md §2).
 */
import { createHash, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { StellaError } from '../errors/index.js';
import { installExactObjectIdentifiers } from './object-identifier.js';

// Before anything decodes or encodes an OID: asn1js alone rounds arcs above 2^53.
installExactObjectIdentifiers();

/** Object identifiers used by RFC 3161, RFC 5652 (CMS), RFC 2634/5035 (ESS) and RFC 5280. */
export const OID = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  attrContentType: '1.2.840.113549.1.9.3',
  attrMessageDigest: '1.2.840.113549.1.9.4',
  attrSigningTime: '1.2.840.113549.1.9.5',
  attrSigningCertificate: '1.2.840.113549.1.9.16.2.12',
  attrSigningCertificateV2: '1.2.840.113549.1.9.16.2.47',
  extKeyUsage: '2.5.29.37',
  kpTimeStamping: '1.3.6.1.5.5.7.3.8',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  ed25519: '1.3.101.112',
} as const;

/** Hash algorithms accepted for message imprints and CMS digests. SHA-1 only for ESS v1 ids. */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const HASH_BY_OID: Record<string, HashName> = {
  [OID.sha1]: 'sha1',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

/** Digest length in bytes for each supported hash. */
export const HASH_LENGTH: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** The hash name for an algorithm OID, or undefined when unsupported. */
export function hashNameFromOid(oid: string): HashName | undefined {
  return HASH_BY_OID[oid];
}

/** The OID of a hash name. */
export function hashOid(name: HashName): string {
  return OID[name];
}

/** One-shot digest (node:crypto). */
export function digest(name: HashName, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(name).update(data).digest());
}

let engineReady = false;
/**
 * pkijs needs a WebCrypto engine for certificate-chain validation; in Node there is no `self`,
 * so it must be set explicitly (spec §2 "pkijs"). Idempotent.
 */
export function ensurePkijsEngine(): void {
  if (engineReady) return;
  pkijs.setEngine(
    'node',
    new pkijs.CryptoEngine({
      name: 'node',
      crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'],
    }),
  );
  engineReady = true;
}

/** A fresh ArrayBuffer holding exactly the bytes of `u8` (asn1js wants ArrayBuffers). */
export function toArrayBuffer(u8: Uint8Array): ArrayBuffer {
  const ab = new ArrayBuffer(u8.byteLength);
  new Uint8Array(ab).set(u8);
  return ab;
}

/**
 * Decode one complete DER element. Truncated input, garbage, or trailing bytes after the element
 * are ASN1_MALFORMED (a token followed by junk is not a token).
 */
export function decodeDer(bytes: Uint8Array, what: string): asn1js.AsnType {
  if (bytes.byteLength === 0) throw new StellaError('ASN1_MALFORMED', `${what}: empty input`);
  const ab = toArrayBuffer(bytes);
  let res: ReturnType<typeof asn1js.fromBER>;
  try {
    res = asn1js.fromBER(ab);
  } catch (err) {
    // asn1js throws (rather than reporting) on some malformed primitives, e.g. bad time strings.
    throw new StellaError('ASN1_MALFORMED', `${what}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  if (res.offset === -1 || res.result.error) {
    throw new StellaError('ASN1_MALFORMED', `${what}: ${res.result.error || 'cannot decode DER'}`);
  }
  if (res.offset !== bytes.byteLength) {
    throw new StellaError(
      'ASN1_MALFORMED',
      `${what}: ${bytes.byteLength - res.offset} trailing byte(s) after the DER element`,
    );
  }
  assertConsistentLengths(res.result, what);
  return res.result;
}

/**
 * asn1js lets the children of a definite-length constructed element run past the parent's
 * declared length (found by fuzzing: `30 05 020105 020107` decodes as two INTEGERs). X.690 §8.1.3
 * says the length counts the content octets exactly, so check every constructed node.
 */
function assertConsistentLengths(node: asn1js.AsnType, what: string, depth = 0): void {
  if (depth > 64) throw new StellaError('ASN1_MALFORMED', `${what}: nesting deeper than 64 levels`);
  // X.690 §10.1 (DER): the definite form uses the minimum number of length octets.
  if (!node.lenBlock.isIndefiniteForm && node.lenBlock.longFormUsed && node.lenBlock.length < 0x80) {
    throw new StellaError('ASN1_MALFORMED', `${what}: non-minimal length encoding`);
  }
  // X.690 §8.3.1: an INTEGER has at least one content octet.
  if (
    node.idBlock.tagClass === 1 &&
    node.idBlock.tagNumber === 2 &&
    !node.idBlock.isConstructed &&
    node.lenBlock.length === 0
  ) {
    throw new StellaError('ASN1_MALFORMED', `${what}: empty INTEGER`);
  }
  const children = (node.valueBlock as { value?: unknown }).value;
  if (!node.idBlock.isConstructed || !Array.isArray(children)) return;
  if (!node.lenBlock.isIndefiniteForm) {
    const sum = (children as asn1js.AsnType[]).reduce((n, c) => n + c.valueBeforeDecodeView.byteLength, 0);
    if (sum !== node.lenBlock.length)
      throw new StellaError(
        'ASN1_MALFORMED',
        `${what}: element length ${node.lenBlock.length} does not match its content (${sum} bytes)`,
      );
  }
  for (const c of children as asn1js.AsnType[]) assertConsistentLengths(c, what, depth + 1);
}

/**
 * Build a pkijs object from DER, mapping any schema mismatch to ASN1_MALFORMED. pkijs throws
 * plain Errors (or strings) when a structure does not match its schema.
 */
export function parsePki<T>(bytes: Uint8Array, what: string, build: (schema: asn1js.AsnType) => T): T {
  const schema = decodeDer(bytes, what);
  try {
    return build(schema);
  } catch (err) {
    throw new StellaError('ASN1_MALFORMED', `${what}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/** DER encoding of a pkijs object or asn1js value, as a Uint8Array. */
export function derOf(obj: { toSchema(): asn1js.AsnType } | asn1js.AsnType): Uint8Array {
  const schema = 'toSchema' in obj && typeof obj.toSchema === 'function' ? obj.toSchema() : (obj as asn1js.AsnType);
  return new Uint8Array(schema.toBER(false));
}

/** Constant-time-ish equality for public values (digests); length mismatch is simply false. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lowercase hex. */
export function toHex(u8: Uint8Array): string {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex');
}

/**
 * Unsigned big-endian integer bytes → bigint. RFC 3161 nonces and serials are positive INTEGERs;
 * asn1js keeps the DER content bytes (with a possible leading 0x00), which this handles.
 */
export function bytesToBigInt(u8: Uint8Array): bigint {
  return u8.byteLength === 0 ? 0n : BigInt(`0x${toHex(u8)}`);
}

/** The value of an asn1js INTEGER as a bigint (two's complement aware). */
export function integerValue(i: asn1js.Integer): bigint {
  return i.toBigInt();
}

/** A non-negative bigint as an asn1js INTEGER (DER minimal encoding). */
export function integerFrom(value: bigint): asn1js.Integer {
  if (value < 0n) throw new StellaError('VALIDATION_FAILED', 'INTEGER value must not be negative');
  return asn1js.Integer.fromBigInt(value);
}

/** PEM (one or many blocks) or raw DER → list of DER buffers of the given label. */
export function pemOrDerBlocks(input: Uint8Array | string, label = 'CERTIFICATE'): Uint8Array[] {
  const text =
    typeof input === 'string' ? input : looksLikePem(input) ? Buffer.from(input).toString('latin1') : undefined;
  if (text === undefined) return [input as Uint8Array];
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(re)) {
    const b64 = m[1]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new StellaError('BASE64_INVALID', `PEM ${label} block is not valid base64`);
    }
    out.push(new Uint8Array(Buffer.from(b64, 'base64')));
  }
  if (out.length === 0) throw new StellaError('ASN1_MALFORMED', `no PEM ${label} block found`);
  return out;
}

function looksLikePem(u8: Uint8Array): boolean {
  // DER always starts with a tag byte (0x30 for SEQUENCE); PEM starts with text.
  const head = Buffer.from(u8.subarray(0, 64)).toString('latin1');
  return head.includes('-----BEGIN ');
}

/** Parse X.509 certificates from PEM or DER. */
export function parseCertificates(input: Uint8Array | string | readonly (Uint8Array | string)[]): pkijs.Certificate[] {
  const list = Array.isArray(input) ? input : [input];
  return list.flatMap((item) =>
    pemOrDerBlocks(item as Uint8Array | string).map((der) =>
      parsePki(der, 'certificate', (schema) => new pkijs.Certificate({ schema })),
    ),
  );
}
