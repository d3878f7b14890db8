/**
 * C2SP signed-note (https://c2sp.org/signed-note), Ed25519 (signature type 0x01), compatible with
 * `golang.org/x/mod/sumdb/note`:
 *
 * ```
 * <text, ending in \n>
 *
 * — <key name> base64(uint32 key ID || signature)
 * ```
 *
 * key ID = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4], big-endian.
 * Verifier key: `<name>+<8 hex key ID>+base64(0x01 || public key)`;
 * signer key (x/mod form): `PRIVATE+KEY+<name>+<8 hex key ID>+base64(0x01 || 32-byte seed)`.
 *
 * Opening a note ignores signatures by unknown keys (needed for key rotation and witness
 * cosignatures), fails on any signature by a known key that does not verify, and fails when no
 * known key signed.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import { StellaError } from '../errors/index.js';
import type { Signer } from '../signing/index.js';

/** Signature type byte for Ed25519 note signatures. */
export const NOTE_ALG_ED25519 = 0x01;
/** Upper bound on a note's size (bytes) and signature count this parser accepts. */
export const MAX_NOTE_BYTES = 1 << 20;
export const MAX_NOTE_SIGNATURES = 100;

const EM_DASH_PREFIX = '\u2014 ';
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** One signature line of a note. */
export interface NoteSignature {
  name: string;
  /** uint32 key ID (big-endian first 4 bytes of the decoded signature). */
  keyId: number;
  /** The signature bytes after the key ID. */
  signature: Uint8Array;
  /** The base64 text of the line, as found. */
  base64: string;
}

/** A parsed (not yet verified) note. */
export interface ParsedNote {
  /** The note text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

/** Verifies signatures by one key. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** Signs note texts with one key. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(text: Uint8Array): Promise<Uint8Array>;
}

const malformed = (msg: string, details?: Record<string, unknown>) =>
  new StellaError('TLOG_NOTE_MALFORMED', `signed note: ${msg}`, details ? { details } : undefined);
const keyInvalid = (msg: string) => new StellaError('TLOG_KEY_INVALID', `note key: ${msg}`);

/** Key names: non-empty, no Unicode whitespace, no `+`. */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && !/[\s+\u0085\u180e\u200b]/u.test(name) && !hasControl(name);
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return false;
}

/** Strict standard base64 (RFC 4648 §4, padded): decodes only canonical encodings. */
export function decodeBase64Strict(
  s: string,
  what: string,
  code: 'TLOG_NOTE_MALFORMED' | 'TLOG_CHECKPOINT_MALFORMED' | 'TLOG_KEY_INVALID',
): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0)
    throw new StellaError(code, `${what} is not standard padded base64`);
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) throw new StellaError(code, `${what} is not canonical base64`);
  return new Uint8Array(b);
}

/** key ID = SHA-256(name || 0x0A || alg || key)[:4] as a uint32. */
export function noteKeyId(name: string, alg: number, publicKey: Uint8Array): number {
  const d = createHash('sha256').update(name, 'utf8').update(Uint8Array.of(0x0a, alg)).update(publicKey).digest();
  return d.readUInt32BE(0);
}

/** Splits on the first n−1 separators (the last part keeps the rest). */
function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  out.push(rest);
  return out;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

function toUtf8(input: string | Uint8Array): { text: string; bytes: Uint8Array } {
  if (typeof input === 'string') {
    const bytes = new TextEncoder().encode(input);
    // A lone surrogate does not survive UTF-8 encoding unchanged.
    if (new TextDecoder().decode(bytes) !== input) throw malformed('not valid UTF-8');
    return { text: input, bytes };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch {
    throw malformed('not valid UTF-8');
  }
  return { text, bytes: input };
}

/**
 * Parses a signed note strictly (valid UTF-8, no control characters but newline, text ending in a
 * newline, separated by the last blank line from ≥ 1 signature lines `— <name> <base64>`).
 * @throws StellaError TLOG_NOTE_MALFORMED
 */
export function parseNote(input: string | Uint8Array): ParsedNote {
  const { text: msg, bytes } = toUtf8(input);
  if (bytes.length > MAX_NOTE_BYTES) throw malformed(`larger than ${MAX_NOTE_BYTES} bytes`);
  if (hasControl(msg)) throw malformed('contains ASCII control characters other than newline');
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line separating text and signatures');
  const text = msg.slice(0, split + 1);
  const sigPart = msg.slice(split + 2);
  if (sigPart.length === 0 || !sigPart.endsWith('\n')) throw malformed('signature lines must end in a newline');
  const lines = sigPart.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line, i): NoteSignature => {
    if (!line.startsWith(EM_DASH_PREFIX)) throw malformed(`signature line ${i + 1} does not start with "— "`);
    const body = line.slice(EM_DASH_PREFIX.length);
    const sp = body.indexOf(' ');
    if (sp <= 0 || body.indexOf(' ', sp + 1) >= 0)
      throw malformed(`signature line ${i + 1} is not "— <name> <base64>"`);
    const name = body.slice(0, sp);
    const b64 = body.slice(sp + 1);
    if (!isValidKeyName(name)) throw malformed(`signature line ${i + 1} has an invalid key name`);
    const raw = decodeBase64Strict(b64, `signature line ${i + 1}`, 'TLOG_NOTE_MALFORMED');
    if (raw.length < 5) throw malformed(`signature line ${i + 1} is shorter than a key ID and a signature`);
    const keyId = Buffer.from(raw.buffer, raw.byteOffset, 4).readUInt32BE(0);
    return { name, keyId, signature: raw.subarray(4), base64: b64 };
  });
  return { text, signatures };
}

/** Formats a note from its text and signature lines. */
export function formatNote(text: string, signatures: readonly Pick<NoteSignature, 'name' | 'base64'>[]): string {
  if (!text.endsWith('\n')) throw malformed('note text must end in a newline');
  if (hasControl(text)) throw malformed('note text contains ASCII control characters other than newline');
  if (signatures.length === 0) throw malformed('a signed note needs at least one signature');
  return `${text}\n${signatures.map((s) => `${EM_DASH_PREFIX}${s.name} ${s.base64}\n`).join('')}`;
}

/** The base64 of a signature line: key ID || signature. */
export function signatureBase64(keyId: number, signature: Uint8Array): string {
  const b = Buffer.alloc(4 + signature.length);
  b.writeUInt32BE(keyId >>> 0, 0);
  b.set(signature, 4);
  return b.toString('base64');
}

/**
 * Signs `text` with every signer and formats the note. Existing signature lines (`keep`, e.g.
 * from a parsed note) are kept after the new ones, without duplicates by (name, key ID).
 */
export async function signNote(
  text: string,
  signers: readonly NoteSigner[],
  keep: readonly NoteSignature[] = [],
): Promise<string> {
  if (!text.endsWith('\n')) throw malformed('note text must end in a newline');
  const bytes = new TextEncoder().encode(text);
  const lines: Pick<NoteSignature, 'name' | 'base64'>[] = [];
  const seen = new Set<string>();
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw keyInvalid(`invalid key name ${JSON.stringify(s.name)}`);
    const sig = await s.sign(bytes);
    lines.push({ name: s.name, base64: signatureBase64(s.keyId, sig) });
    seen.add(`${s.name}\n${s.keyId}`);
  }
  for (const k of keep) if (!seen.has(`${k.name}\n${k.keyId}`)) lines.push(k);
  return formatNote(text, lines);
}

/** Result of {@link openNote}. */
export interface OpenedNote extends ParsedNote {
  /** Signatures by known keys, all verified. */
  verified: NoteSignature[];
  /** Signatures by keys not in the verifier list (ignored, kept for re-publication). */
  unverified: NoteSignature[];
}

/**
 * Parses a note and verifies it against `verifiers`: signatures whose (name, key ID) match a
 * verifier must verify; others are ignored.
 * @throws StellaError TLOG_NOTE_MALFORMED, TLOG_BAD_SIGNATURE (a known key's signature fails),
 *   TLOG_UNKNOWN_KEY (no known key signed)
 */
export function openNote(input: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(input);
  const textBytes = new TextEncoder().encode(parsed.text);
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  for (const sig of parsed.signatures) {
    const v = verifiers.find((x) => x.name === sig.name && x.keyId === sig.keyId);
    if (!v) {
      unverified.push(sig);
      continue;
    }
    if (!v.verify(textBytes, sig.signature))
      throw new StellaError('TLOG_BAD_SIGNATURE', `the signature by ${sig.name}+${hex8(sig.keyId)} does not verify`, {
        details: { name: sig.name, keyId: hex8(sig.keyId) },
      });
    verified.push(sig);
  }
  if (verified.length === 0)
    throw new StellaError('TLOG_UNKNOWN_KEY', 'the note is not signed by any trusted key', {
      details: { signers: parsed.signatures.map((s) => `${s.name}+${hex8(s.keyId)}`) },
    });
  return { ...parsed, verified, unverified };
}

// ---- Ed25519 keys ------------------------------------------------------------------------------

/** Raw 32-byte Ed25519 public key of a KeyObject, SPKI DER, or the raw key itself. */
export function ed25519RawPublicKey(key: KeyObject | Uint8Array): Uint8Array {
  if (key instanceof Uint8Array && key.length === 32) return new Uint8Array(key);
  const spki = key instanceof Uint8Array ? Buffer.from(key) : (key.export({ type: 'spki', format: 'der' }) as Buffer);
  if (spki.length !== 44 || !spki.subarray(0, 12).equals(ED25519_SPKI_PREFIX))
    throw keyInvalid('not an Ed25519 public key');
  return new Uint8Array(spki.subarray(12));
}

function ed25519PublicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The verifier key string `<name>+<hex key ID>+base64(0x01 || key)` for an Ed25519 key. */
export function formatVerifierKey(name: string, publicKey: Uint8Array | KeyObject): string {
  if (!isValidKeyName(name)) throw keyInvalid(`invalid key name ${JSON.stringify(name)}`);
  const raw = ed25519RawPublicKey(publicKey);
  const id = noteKeyId(name, NOTE_ALG_ED25519, raw);
  return `${name}+${hex8(id)}+${Buffer.concat([Uint8Array.of(NOTE_ALG_ED25519), raw]).toString('base64')}`;
}

/** An Ed25519 note verifier for a raw public key. */
export function ed25519NoteVerifier(name: string, publicKey: Uint8Array | KeyObject): NoteVerifier {
  if (!isValidKeyName(name)) throw keyInvalid(`invalid key name ${JSON.stringify(name)}`);
  const raw = ed25519RawPublicKey(publicKey);
  const keyObject = ed25519PublicKeyObject(raw);
  const keyId = noteKeyId(name, NOTE_ALG_ED25519, raw);
  return {
    name,
    keyId,
    verify: (text, signature) => signature.length === 64 && edVerify(null, text, keyObject, signature),
  };
}

/**
 * Parses a verifier key string (Ed25519 only).
 * @throws StellaError TLOG_KEY_INVALID (shape, type, length, or key ID not matching the key)
 */
export function parseVerifierKey(vkey: string): NoteVerifier & { publicKey: Uint8Array; vkey: string } {
  if (typeof vkey !== 'string') throw keyInvalid('verifier key must be a string');
  // Name and hex ID contain no '+'; the base64 key may.
  const parts = splitN(vkey.trim(), '+', 3);
  if (parts.length !== 3) throw keyInvalid('verifier key must be <name>+<hex key ID>+<base64 key>');
  const [name, idHex, b64] = parts as [string, string, string];
  if (!isValidKeyName(name)) throw keyInvalid('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw keyInvalid('key ID must be 8 lowercase hex digits');
  const key = decodeBase64Strict(b64, 'verifier key', 'TLOG_KEY_INVALID');
  if (key.length === 0 || key[0] !== NOTE_ALG_ED25519)
    throw keyInvalid(`unsupported signature type 0x${(key[0] ?? 0).toString(16).padStart(2, '0')}`);
  if (key.length !== 33) throw keyInvalid('an Ed25519 verifier key has 32 key bytes');
  const raw = key.subarray(1);
  const id = noteKeyId(name, NOTE_ALG_ED25519, raw);
  if (hex8(id) !== idHex) throw keyInvalid(`key ID ${idHex} does not match the key (expected ${hex8(id)})`);
  return { ...ed25519NoteVerifier(name, raw), publicKey: raw, vkey: vkey.trim() };
}

/** A note signer over a project {@link Signer} (must be Ed25519: KMS, HSM or key file). */
export function noteSignerFromSigner(name: string, signer: Signer): NoteSigner {
  if (signer.algorithm !== 'ed25519') throw keyInvalid(`note signatures need an Ed25519 key, not ${signer.algorithm}`);
  if (!isValidKeyName(name)) throw keyInvalid(`invalid key name ${JSON.stringify(name)}`);
  const raw = ed25519RawPublicKey(signer.publicKeySpki());
  return { name, keyId: noteKeyId(name, NOTE_ALG_ED25519, raw), sign: (text) => signer.sign(text) };
}

/** Generates a fresh Ed25519 key pair as x/mod `note.GenerateKey` strings. */
export function generateNoteKey(name: string, seed: Uint8Array): { skey: string; vkey: string } {
  if (seed.length !== 32) throw keyInvalid('an Ed25519 seed has 32 bytes');
  const priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const vkey = formatVerifierKey(name, createPublicKey(priv));
  const id = vkey.split('+')[1]!;
  const skey = `PRIVATE+KEY+${name}+${id}+${Buffer.concat([Uint8Array.of(NOTE_ALG_ED25519), seed]).toString('base64')}`;
  return { skey, vkey };
}

/**
 * Parses an x/mod signer key `PRIVATE+KEY+<name>+<hex id>+base64(0x01 || seed)`.
 * @throws StellaError TLOG_KEY_INVALID
 */
export function parseSignerKey(skey: string): NoteSigner & { vkey: string } {
  const parts = typeof skey === 'string' ? splitN(skey.trim(), '+', 5) : [];
  if (parts.length !== 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY')
    throw keyInvalid('signer key must be PRIVATE+KEY+<name>+<hex key ID>+<base64 key>');
  const [, , name, idHex, b64] = parts as [string, string, string, string, string];
  if (!isValidKeyName(name)) throw keyInvalid('invalid key name');
  const key = decodeBase64Strict(b64, 'signer key', 'TLOG_KEY_INVALID');
  if (key.length !== 33 || key[0] !== NOTE_ALG_ED25519) throw keyInvalid('not an Ed25519 signer key');
  const priv = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, key.subarray(1)]),
    format: 'der',
    type: 'pkcs8',
  });
  const vkey = formatVerifierKey(name, createPublicKey(priv));
  if (vkey.split('+')[1] !== idHex) throw keyInvalid('key ID does not match the key');
  return {
    name,
    keyId: Number.parseInt(idHex, 16),
    vkey,
    sign: (text) => Promise.resolve(new Uint8Array(edSign(null, text, priv))),
  };
}
