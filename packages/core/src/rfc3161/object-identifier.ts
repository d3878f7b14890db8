/**
 * OBJECT IDENTIFIER values with arcs of any size (X.690 §8.19, X.660). asn1js (3.1.0 and 4.0.0)
 * reads arcs through IEEE doubles: an arc of 8 septets is rounded above 2^53, a longer one turns
 * into `{hex}` text, and `2.<arc>` with a big second arc is mis-encoded — so the `2.25.<UUID>`
 * policies of X.667 (the built-in TSA's default) were misread (issue 7, point 2).
 *
 * {@link encodeOid} / {@link decodeOid} work on BigInt. {@link installExactObjectIdentifiers}
 * makes asn1js' ObjectIdentifier use them, so every OID pkijs reads or writes — policies, EKUs,
 * algorithm ids, extension and attribute types — is exact and strictly DER. Because this reaches
 * into asn1js internals, asn1js is pinned to an exact version in packages/core/package.json; an
 * upgrade must re-run this module's tests (the install fails loudly if the internals moved).
 */
import * as asn1js from 'asn1js';
import { StellaError } from '../errors/index.js';

/** Longest OID content accepted (bytes); real OIDs are far shorter, this only bounds the work. */
export const MAX_OID_CONTENT_BYTES = 1024;

const DOTTED = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/;

/**
 * The DER content octets of a dotted OID. X.690 §8.19.4: the first two arcs X.Y become one
 * subidentifier 40·X + Y, X ∈ {0, 1, 2} and Y ≤ 39 unless X = 2; each subidentifier is base 128,
 * high bit set on all but the last octet, with no leading 0x80 (§8.19.2).
 */
export function encodeOid(dotted: string): Uint8Array {
  if (!DOTTED.test(dotted)) throw new StellaError('VALIDATION_FAILED', `not a dotted object identifier: ${dotted}`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [x, y] = arcs as [bigint, bigint];
  if (x > 2n || (x < 2n && y > 39n))
    throw new StellaError('VALIDATION_FAILED', `object identifier ${dotted}: arcs ${x}.${y} are out of range`);
  const out: number[] = [];
  for (const sub of [x * 40n + y, ...arcs.slice(2)]) {
    const septets: number[] = [];
    for (let v = sub; ; v >>= 7n) {
      septets.unshift(Number(v & 0x7fn));
      if (v < 0x80n) break;
    }
    out.push(...septets.map((s, i) => (i < septets.length - 1 ? s | 0x80 : s)));
  }
  if (out.length > MAX_OID_CONTENT_BYTES)
    throw new StellaError('VALIDATION_FAILED', `object identifier longer than ${MAX_OID_CONTENT_BYTES} bytes`);
  return new Uint8Array(out);
}

/** The dotted form of DER OID content octets; non-DER or truncated content is ASN1_MALFORMED. */
export function decodeOid(content: Uint8Array): string {
  if (content.byteLength === 0) throw new StellaError('ASN1_MALFORMED', 'empty OBJECT IDENTIFIER');
  if (content.byteLength > MAX_OID_CONTENT_BYTES)
    throw new StellaError('ASN1_MALFORMED', `OBJECT IDENTIFIER longer than ${MAX_OID_CONTENT_BYTES} bytes`);
  const subs: bigint[] = [];
  let value = 0n;
  let start = true;
  for (const octet of content) {
    if (start && octet === 0x80)
      throw new StellaError('ASN1_MALFORMED', 'OBJECT IDENTIFIER subidentifier has a leading 0x80 (X.690 §8.19.2)');
    value = (value << 7n) | BigInt(octet & 0x7f);
    start = (octet & 0x80) === 0;
    if (start) {
      subs.push(value);
      value = 0n;
    }
  }
  if (!start) throw new StellaError('ASN1_MALFORMED', 'OBJECT IDENTIFIER ends inside a subidentifier');
  const first = subs[0]!;
  const x = first < 40n ? 0n : first < 80n ? 1n : 2n;
  return [x, first - 40n * x, ...subs.slice(1)].join('.');
}

/** The asn1js internals this patches (not exported by asn1js, reached through an instance). */
interface SidBlock {
  error: string;
  valueHexView: Uint8Array;
  isHexOnly: boolean;
  fromBER(buffer: ArrayBuffer | Uint8Array, offset: number, length: number): number;
}
interface OidValueBlock {
  value: SidBlock[];
  blockLength: number;
  error: string;
  fromBER(buffer: ArrayBuffer | Uint8Array, offset: number, length: number): number;
  toBER(sizeOnly?: boolean): ArrayBuffer;
  toString(): string;
  fromString(value: string): void;
}

let installed = false;

/**
 * Route asn1js ObjectIdentifier text conversion through {@link decodeOid} / {@link encodeOid}.
 * Idempotent. Every subidentifier is kept as its exact septets (asn1js' hex-only form, which it
 * re-encodes byte for byte) instead of a double: asn1js rounds above 2^53 and cannot encode 0.
 */
export function installExactObjectIdentifiers(): void {
  if (installed) return;
  const sample = new asn1js.ObjectIdentifier({ value: '1.2' }).valueBlock as unknown as OidValueBlock;
  const oidProto = Object.getPrototypeOf(sample) as OidValueBlock;
  const sidProto = Object.getPrototypeOf(sample.value[0]) as SidBlock;
  if (typeof sidProto.fromBER !== 'function' || typeof oidProto.fromString !== 'function')
    throw new Error('asn1js ObjectIdentifier internals changed; review object-identifier.ts');

  const sidFromBER = sidProto.fromBER;
  sidProto.fromBER = function (this: SidBlock, buffer, offset, length) {
    const end = sidFromBER.call(this, buffer, offset, length);
    if (end !== -1 && this.valueHexView.length > 1 && this.valueHexView[0] === 0) {
      // X.690 §8.19.2: "the leading octet of the subidentifier shall not have the value 0x80".
      this.error = 'OBJECT IDENTIFIER subidentifier has a leading 0x80 (X.690 §8.19.2)';
      return -1;
    }
    // Re-encode from the exact septets, never from asn1js' double (which also fails for 0).
    if (end !== -1) this.isHexOnly = true;
    return end;
  };
  oidProto.toString = function (this: OidValueBlock) {
    if (this.value.length === 0) return '';
    return decodeOid(new Uint8Array(this.toBER(false)));
  };
  oidProto.fromString = function (this: OidValueBlock, dotted: string) {
    const content = encodeOid(dotted);
    this.value = [];
    this.blockLength = 0;
    if (this.fromBER(content, 0, content.byteLength) === -1)
      throw new StellaError('VALIDATION_FAILED', `object identifier ${dotted}: ${this.error}`);
  };
  installed = true;
}
