/**
 * The Stella envelope v1 header (docs/formats/encryption.md). Binary, big-endian:
 *
 * ```
 * magic        8   89 53 45 4E 56 0D 0A 1A   ("\x89SENV\r\n\x1a", PNG-style: catches 7-bit and
 *                                            newline-translating transfers)
 * version      1   0x01
 * aead         1   0x01 = AES-256-GCM
 * chunkSize    4   plaintext bytes per chunk, 256 … 16 MiB
 * noncePrefix  7   random
 * stanzaCount  2   1 … 64
 * stanza × n:  kindLen 1 (1…32) ‖ kind ASCII [a-z0-9][a-z0-9.-]* ‖ idLen 2 (0…1024) ‖ id UTF-8 ‖
 *              bodyLen 2 (1…8192) ‖ body (the wrapped DEK)
 * mac          32  HMAC-SHA-256(headerKey, every header byte before the mac)
 * ```
 *
 * Key schedule (HKDF-SHA-256, RFC 5869), modelled on age v1:
 * `headerKey = HKDF(DEK, salt = "", info = "stella-envelope/v1 header")`,
 * `payloadKey = HKDF(DEK, salt = noncePrefix, info = "stella-envelope/v1 payload")`.
 * The MAC binds every header field (chunk size, stanzas) to the DEK, and because HMAC is
 * key-committing a recipient cannot be handed a different DEK than the others.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { StellaError } from '../errors/index.js';

/** Magic bytes of a Stella envelope. */
export const ENVELOPE_MAGIC = Uint8Array.from([0x89, 0x53, 0x45, 0x4e, 0x56, 0x0d, 0x0a, 0x1a]);
/** Format version written and accepted. */
export const ENVELOPE_VERSION = 1;
/** AEAD id for AES-256-GCM. */
export const AEAD_AES_256_GCM = 1;
/** Default plaintext chunk size (64 KiB, like age's STREAM). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Smallest accepted chunk size (keeps tag overhead ≤ 6.25 %). */
export const MIN_CHUNK_SIZE = 256;
/** Largest accepted chunk size: bounds decryptor memory against hostile headers. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Most recipients (wrapped DEK copies) in one header. */
export const MAX_STANZAS = 64;
/** Longest stanza id in UTF-8 bytes. */
export const MAX_ID_BYTES = 1024;
/** Longest wrapped key (RSA-16384 OAEP is 2 KiB; age stanzas ~200 bytes). */
export const MAX_BODY_BYTES = 8192;
/** GCM tag length appended to every chunk. */
export const TAG_BYTES = 16;
/** Random nonce prefix length (12-byte GCM nonce = prefix 7 ‖ counter 4 ‖ flag 1). */
export const NONCE_PREFIX_BYTES = 7;
/** HMAC-SHA-256 length closing the header. */
export const MAC_BYTES = 32;
const FIXED_BYTES = 8 + 1 + 1 + 4 + NONCE_PREFIX_BYTES + 2;
/** Upper bound of any valid header (bounds buffering while parsing a stream). */
export const MAX_HEADER_BYTES =
  FIXED_BYTES + MAX_STANZAS * (1 + 32 + 2 + MAX_ID_BYTES + 2 + MAX_BODY_BYTES) + MAC_BYTES;

const KIND_RE = /^[a-z0-9][a-z0-9.-]{0,31}$/;

/** One wrapped copy of the DEK. */
export interface EnvelopeStanza {
  kind: string;
  id: string;
  body: Uint8Array;
}

/** Decoded header fields. */
export interface EnvelopeHeader {
  version: number;
  aead: number;
  chunkSize: number;
  noncePrefix: Uint8Array;
  stanzas: EnvelopeStanza[];
  /** The header bytes the MAC covers (everything before the MAC). */
  macInput: Uint8Array;
  mac: Uint8Array;
}

function invalid(message: string): never {
  throw new StellaError('ENCRYPTION_INVALID', `envelope header: ${message}`);
}

/** Check a kind string (used by encoder and parser). */
export function assertStanzaKind(kind: string): void {
  if (!KIND_RE.test(kind)) invalid(`stanza kind ${JSON.stringify(kind)} must match ${KIND_RE.source}`);
}

/** Encode the MAC input (header without MAC). */
export function encodeHeaderBody(fields: {
  chunkSize: number;
  noncePrefix: Uint8Array;
  stanzas: readonly EnvelopeStanza[];
}): Uint8Array {
  const { chunkSize, noncePrefix, stanzas } = fields;
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE)
    invalid(`chunk size ${chunkSize} outside ${MIN_CHUNK_SIZE}…${MAX_CHUNK_SIZE}`);
  if (noncePrefix.byteLength !== NONCE_PREFIX_BYTES) invalid(`nonce prefix must be ${NONCE_PREFIX_BYTES} bytes`);
  if (stanzas.length < 1 || stanzas.length > MAX_STANZAS)
    invalid(`1…${MAX_STANZAS} recipients required, got ${stanzas.length}`);
  const parts: Buffer[] = [];
  const fixed = Buffer.alloc(FIXED_BYTES);
  fixed.set(ENVELOPE_MAGIC, 0);
  fixed[8] = ENVELOPE_VERSION;
  fixed[9] = AEAD_AES_256_GCM;
  fixed.writeUInt32BE(chunkSize, 10);
  fixed.set(noncePrefix, 14);
  fixed.writeUInt16BE(stanzas.length, 21);
  parts.push(fixed);
  for (const s of stanzas) {
    assertStanzaKind(s.kind);
    const id = Buffer.from(s.id, 'utf8');
    if (id.byteLength > MAX_ID_BYTES) invalid(`stanza id longer than ${MAX_ID_BYTES} bytes`);
    if (s.body.byteLength < 1 || s.body.byteLength > MAX_BODY_BYTES)
      invalid(`wrapped key of ${s.body.byteLength} bytes (1…${MAX_BODY_BYTES})`);
    const h = Buffer.alloc(1 + s.kind.length + 2);
    h[0] = s.kind.length;
    h.write(s.kind, 1, 'ascii');
    h.writeUInt16BE(id.byteLength, 1 + s.kind.length);
    const bl = Buffer.alloc(2);
    bl.writeUInt16BE(s.body.byteLength, 0);
    parts.push(h, id, bl, Buffer.from(s.body));
  }
  return new Uint8Array(Buffer.concat(parts));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse a header from the start of `bytes`. Returns `undefined` when more bytes are needed (for
 * streams), the header and its total length otherwise; ENCRYPTION_INVALID for anything malformed.
 * Never allocates more than the input.
 */
export function parseEnvelopeHeader(bytes: Uint8Array): { header: EnvelopeHeader; length: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLen = Math.min(b.length, 8);
  for (let i = 0; i < magicLen; i++)
    if (b[i] !== ENVELOPE_MAGIC[i]) invalid('bad magic (not a Stella envelope, or damaged in transfer)');
  if (b.length < FIXED_BYTES) return undefined;
  if (b[8] !== ENVELOPE_VERSION) invalid(`unsupported version ${b[8]}`);
  if (b[9] !== AEAD_AES_256_GCM) invalid(`unsupported AEAD ${b[9]}`);
  const chunkSize = b.readUInt32BE(10);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE)
    invalid(`chunk size ${chunkSize} outside ${MIN_CHUNK_SIZE}…${MAX_CHUNK_SIZE}`);
  const noncePrefix = new Uint8Array(b.subarray(14, 21));
  const count = b.readUInt16BE(21);
  if (count < 1 || count > MAX_STANZAS) invalid(`recipient count ${count} outside 1…${MAX_STANZAS}`);
  let off = FIXED_BYTES;
  const stanzas: EnvelopeStanza[] = [];
  for (let i = 0; i < count; i++) {
    if (b.length < off + 1) return undefined;
    const kindLen = b[off]!;
    if (kindLen < 1 || kindLen > 32) invalid(`stanza ${i}: kind length ${kindLen}`);
    if (b.length < off + 1 + kindLen + 2) return undefined;
    const kind = b.toString('latin1', off + 1, off + 1 + kindLen);
    assertStanzaKind(kind);
    off += 1 + kindLen;
    const idLen = b.readUInt16BE(off);
    if (idLen > MAX_ID_BYTES) invalid(`stanza ${i}: id length ${idLen}`);
    off += 2;
    if (b.length < off + idLen + 2) return undefined;
    let id: string;
    try {
      id = utf8.decode(b.subarray(off, off + idLen));
    } catch {
      invalid(`stanza ${i}: id is not UTF-8`);
    }
    off += idLen;
    const bodyLen = b.readUInt16BE(off);
    if (bodyLen < 1 || bodyLen > MAX_BODY_BYTES) invalid(`stanza ${i}: wrapped key length ${bodyLen}`);
    off += 2;
    if (b.length < off + bodyLen) return undefined;
    stanzas.push({ kind, id, body: new Uint8Array(b.subarray(off, off + bodyLen)) });
    off += bodyLen;
  }
  if (b.length < off + MAC_BYTES) return undefined;
  return {
    header: {
      version: ENVELOPE_VERSION,
      aead: AEAD_AES_256_GCM,
      chunkSize,
      noncePrefix,
      stanzas,
      macInput: new Uint8Array(b.subarray(0, off)),
      mac: new Uint8Array(b.subarray(off, off + MAC_BYTES)),
    },
    length: off + MAC_BYTES,
  };
}

/** The two subkeys derived from the DEK (see the module comment). */
export function deriveKeys(dek: Uint8Array, noncePrefix: Uint8Array): { headerKey: Buffer; payloadKey: Buffer } {
  if (dek.byteLength !== 32) throw new StellaError('DECRYPT_FAILED', 'data key is not 32 bytes');
  return {
    headerKey: Buffer.from(hkdfSync('sha256', dek, new Uint8Array(0), 'stella-envelope/v1 header', 32)),
    payloadKey: Buffer.from(hkdfSync('sha256', dek, noncePrefix, 'stella-envelope/v1 payload', 32)),
  };
}

/** HMAC-SHA-256 over the header body. */
export function headerMac(headerKey: Uint8Array, macInput: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', headerKey).update(macInput).digest());
}

/** Constant-time MAC comparison. */
export function macMatches(expected: Uint8Array, actual: Uint8Array): boolean {
  return expected.byteLength === actual.byteLength && timingSafeEqual(expected, actual);
}

/** The 12-byte GCM nonce of chunk `counter`: prefix(7) ‖ counter u32 BE ‖ last-flag (like age STREAM). */
export function chunkNonce(prefix: Uint8Array, counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.set(prefix, 0);
  n.writeUInt32BE(counter, 7);
  n[11] = last ? 1 : 0;
  return n;
}
