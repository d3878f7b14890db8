/**
 * C2SP tlog-cosignature v1, Ed25519 (https://c2sp.org/tlog-cosignature): a witness's statement
 * that, as of a time, the checkpoint is the largest consistent tree head it has seen of that log.
 *
 * A cosignature is one more signed-note line on the checkpoint, `— <witness name> base64(key ID ||
 * timestamped_signature)`, where
 *
 * - key ID = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4] (type 0x04, not the log's 0x01,
 *   so a witness key can never pass as a log key and vice versa);
 * - timestamped_signature = uint64 big-endian POSIX seconds || 64-byte Ed25519 signature;
 * - the signed message is `cosignature/v1\ntime <seconds>\n` followed by the whole checkpoint body
 *   (note text, extension lines included).
 *
 * Verifier keys are vkeys of type 0x04 (`<name>+<hex id>+base64(0x04 || key)`); a type-0x01 vkey
 * is accepted and treated as the 0x04 key of the same bytes, as transparency-dev/formats
 * `NewVerifierForCosignatureV1` does. Signer keys: `PRIVATE+KEY+<name>+<hex id>+base64(0x04 || seed)`.
 * No I/O.
 */
import { createHash, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify } from 'node:crypto';
import { StellaError } from '../errors/index.js';
import {
  decodeBase64Strict,
  ed25519RawPublicKey,
  formatNote,
  isValidKeyName,
  parseNote,
  signatureBase64,
  type NoteSignature,
  type NoteVerifier,
} from './note.js';

/** Signature type byte of Ed25519 cosignature/v1 keys (key IDs and vkeys). */
export const COSIGNATURE_ALG_ED25519 = 0x04;
/** The fixed first line of the signed message (domain separation). */
export const COSIGNATURE_HEADER = 'cosignature/v1';
const TIMESTAMPED_SIGNATURE_SIZE = 8 + 64;
const MAX_TIMESTAMP = 2n ** 63n - 1n;
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

const keyInvalid = (msg: string) => new StellaError('TLOG_KEY_INVALID', `cosigner key: ${msg}`);

/** key ID of an Ed25519 cosigner: SHA-256(name || 0x0A || 0x04 || key)[:4]. */
export function cosignerKeyId(name: string, publicKey: Uint8Array): number {
  const d = createHash('sha256')
    .update(name, 'utf8')
    .update(Uint8Array.of(0x0a, COSIGNATURE_ALG_ED25519))
    .update(publicKey)
    .digest();
  return d.readUInt32BE(0);
}

/** The message a cosigner signs: `cosignature/v1\ntime <t>\n` || checkpoint body. */
export function cosignatureMessage(checkpointText: string, timestamp: number): Uint8Array {
  assertTimestamp(timestamp);
  if (!checkpointText.endsWith('\n')) throw new StellaError('TLOG_NOTE_MALFORMED', 'note text must end in a newline');
  return new TextEncoder().encode(`${COSIGNATURE_HEADER}\ntime ${timestamp}\n${checkpointText}`);
}

function assertTimestamp(t: number): void {
  if (!Number.isSafeInteger(t) || t < 0)
    throw new StellaError('TLOG_COSIGNATURE_INVALID', `cosignature timestamp must be POSIX seconds ≥ 0, got ${t}`);
}

/** A parsed cosignature line by a known witness. */
export interface Cosignature {
  name: string;
  keyId: number;
  /** POSIX seconds the witness signed at. */
  timestamp: number;
  /** The base64 text of the line. */
  base64: string;
}

/** Verifies cosignature/v1 lines of one witness; also a {@link NoteVerifier} (for `openNote`). */
export interface CosignatureVerifier extends NoteVerifier {
  /** `<name>+<hex id>+base64(0x04 || key)`. */
  readonly vkey: string;
  readonly publicKey: Uint8Array;
}

/** Signs cosignatures with one witness key. */
export interface CosignatureSigner {
  readonly name: string;
  readonly keyId: number;
  /** `<name>+<hex id>+base64(0x04 || key)`. */
  readonly vkey: string;
  /** The timestamped_signature (8 + 64 bytes) over {@link cosignatureMessage}. */
  cosign(checkpointText: string, timestamp: number): Promise<Uint8Array>;
}

/** The type-0x04 vkey of an Ed25519 public key. */
export function formatCosignerVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw keyInvalid(`invalid key name ${JSON.stringify(name)}`);
  const raw = ed25519RawPublicKey(publicKey);
  const key = Buffer.concat([Uint8Array.of(COSIGNATURE_ALG_ED25519), raw]).toString('base64');
  return `${name}+${hex8(cosignerKeyId(name, raw))}+${key}`;
}

/** A cosignature verifier for a witness's raw Ed25519 public key. */
export function ed25519CosignatureVerifier(name: string, publicKey: Uint8Array): CosignatureVerifier {
  const raw = ed25519RawPublicKey(publicKey);
  const vkey = formatCosignerVerifierKey(name, raw);
  const keyObject = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  return {
    name,
    keyId: cosignerKeyId(name, raw),
    vkey,
    publicKey: raw,
    verify: (text, sig) => {
      if (sig.length !== TIMESTAMPED_SIGNATURE_SIZE) return false;
      const t = Buffer.from(sig.buffer, sig.byteOffset, 8).readBigUInt64BE(0);
      if (t > MAX_TIMESTAMP || t > BigInt(Number.MAX_SAFE_INTEGER)) return false;
      const msg = cosignatureMessage(new TextDecoder().decode(text), Number(t));
      return edVerify(null, msg, keyObject, sig.subarray(8));
    },
  };
}

/**
 * Parses a witness verifier key: type 0x04 (C2SP), or type 0x01 taken as the 0x04 key of the same
 * bytes (its own key ID is checked as a 0x01 key's).
 * @throws StellaError TLOG_KEY_INVALID
 */
export function parseCosignerVerifierKey(vkey: string): CosignatureVerifier {
  if (typeof vkey !== 'string') throw keyInvalid('verifier key must be a string');
  const s = vkey.trim();
  const a = s.indexOf('+');
  const b = a < 0 ? -1 : s.indexOf('+', a + 1);
  if (a <= 0 || b < 0) throw keyInvalid('verifier key must be <name>+<hex key ID>+<base64 key>');
  const name = s.slice(0, a);
  const idHex = s.slice(a + 1, b);
  if (!isValidKeyName(name)) throw keyInvalid('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw keyInvalid('key ID must be 8 lowercase hex digits');
  const key = decodeBase64Strict(s.slice(b + 1), 'verifier key', 'TLOG_KEY_INVALID');
  const alg = key[0];
  if (key.length !== 33 || (alg !== COSIGNATURE_ALG_ED25519 && alg !== 0x01))
    throw keyInvalid(`not an Ed25519 cosigner key (type 0x${(alg ?? 0).toString(16).padStart(2, '0')}, need 0x04)`);
  const raw = key.subarray(1);
  const idOfGiven = createHash('sha256')
    .update(name, 'utf8')
    .update(Uint8Array.of(0x0a, alg))
    .update(raw)
    .digest()
    .readUInt32BE(0);
  if (hex8(idOfGiven) !== idHex)
    throw keyInvalid(`key ID ${idHex} does not match the key (expected ${hex8(idOfGiven)})`);
  return ed25519CosignatureVerifier(name, raw);
}

/** Generates a witness key pair from a 32-byte seed: `{ skey, vkey }` of type 0x04. */
export function generateCosignerKey(name: string, seed: Uint8Array): { skey: string; vkey: string } {
  if (seed.length !== 32) throw keyInvalid('an Ed25519 seed has 32 bytes');
  const signer = cosignerFromSeed(name, seed);
  const id = hex8(signer.keyId);
  const b64 = Buffer.concat([Uint8Array.of(COSIGNATURE_ALG_ED25519), seed]).toString('base64');
  return { skey: `PRIVATE+KEY+${name}+${id}+${b64}`, vkey: signer.vkey };
}

function cosignerFromSeed(name: string, seed: Uint8Array): CosignatureSigner {
  if (!isValidKeyName(name)) throw keyInvalid(`invalid key name ${JSON.stringify(name)}`);
  const priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const raw = ed25519RawPublicKey(createPublicKey(priv));
  return {
    name,
    keyId: cosignerKeyId(name, raw),
    vkey: formatCosignerVerifierKey(name, raw),
    cosign: (text, timestamp) => {
      const sig = edSign(null, cosignatureMessage(text, timestamp), priv);
      const out = Buffer.alloc(TIMESTAMPED_SIGNATURE_SIZE);
      out.writeBigUInt64BE(BigInt(timestamp), 0);
      out.set(sig, 8);
      return Promise.resolve(new Uint8Array(out));
    },
  };
}

/**
 * Parses a witness signer key `PRIVATE+KEY+<name>+<hex id>+base64(0x04 || seed)` (0x01 seeds are
 * accepted as transparency-dev does; the key ID is always the 0x04 one).
 * @throws StellaError TLOG_KEY_INVALID
 */
export function parseCosignerKey(skey: string): CosignatureSigner {
  const parts = typeof skey === 'string' ? skey.trim().split('+') : [];
  if (parts.length < 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY')
    throw keyInvalid('signer key must be PRIVATE+KEY+<name>+<hex key ID>+<base64 key>');
  const [, , name, idHex] = parts as [string, string, string, string];
  const key = decodeBase64Strict(parts.slice(4).join('+'), 'signer key', 'TLOG_KEY_INVALID');
  if (key.length !== 33 || (key[0] !== COSIGNATURE_ALG_ED25519 && key[0] !== 0x01))
    throw keyInvalid('not an Ed25519 cosigner signer key');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw keyInvalid('key ID must be 8 lowercase hex digits');
  const signer = cosignerFromSeed(name, key.subarray(1));
  if (key[0] === COSIGNATURE_ALG_ED25519 && hex8(signer.keyId) !== idHex)
    throw keyInvalid('key ID does not match the key');
  return signer;
}

/**
 * Adds cosignature lines to a signed note (e.g. a checkpoint the log signed), after its existing
 * lines; a line by the same (name, key ID) as an existing one replaces it (a witness's newer
 * cosignature). The lines are not verified here ({@link verifyCosignatures} does that).
 * @throws StellaError TLOG_NOTE_MALFORMED
 */
export function addCosignatures(
  note: string | Uint8Array,
  lines: readonly Pick<NoteSignature, 'name' | 'keyId' | 'base64'>[],
): string {
  const parsed = parseNote(note);
  const key = (s: Pick<NoteSignature, 'name' | 'keyId'>) => `${s.name}\n${s.keyId >>> 0}`;
  const replaced = new Map(lines.map((l) => [key(l), l]));
  const kept = parsed.signatures.filter((s) => !replaced.has(key(s)));
  const all = [...kept, ...replaced.values()];
  const out = formatNote(parsed.text, all);
  parseNote(out); // the signature count limit and line syntax, as any reader will check them
  return out;
}

/**
 * Cosigns a checkpoint note: signs its body at `timestamp` (POSIX seconds) and returns the note
 * with the witness's line added (replacing an older line by the same key).
 */
export async function cosignNote(
  note: string | Uint8Array,
  signer: CosignatureSigner,
  timestamp: number,
): Promise<string> {
  const parsed = parseNote(note);
  const sig = await signer.cosign(parsed.text, timestamp);
  return addCosignatures(note, [
    { name: signer.name, keyId: signer.keyId, base64: signatureBase64(signer.keyId, sig) },
  ]);
}

/** What {@link verifyCosignatures} checks. */
export interface VerifyCosignaturesOptions {
  /** Trusted witnesses. */
  witnesses: readonly CosignatureVerifier[];
  /** How many distinct trusted witnesses must have cosigned (default 1). */
  quorum?: number;
  /** Reject cosignatures more than this many seconds after `now` (default 300; C2SP: MAY reject). */
  maxFutureSeconds?: number;
  /** POSIX seconds (default: the clock). */
  now?: number;
}

/**
 * Verifies the cosignatures on a note by trusted witnesses. Lines by other keys (the log's own
 * signature, unknown witnesses) are ignored; a line by a trusted witness must verify.
 * @throws StellaError TLOG_NOTE_MALFORMED, TLOG_COSIGNATURE_INVALID (a trusted witness's line does
 *   not verify or is dated in the future), TLOG_WITNESS_QUORUM (fewer trusted witnesses than
 *   `quorum` cosigned — e.g. only unknown witness keys did)
 */
export function verifyCosignatures(note: string | Uint8Array, opts: VerifyCosignaturesOptions): Cosignature[] {
  const parsed = parseNote(note);
  const quorum = opts.quorum ?? 1;
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > opts.witnesses.length)
    throw new StellaError(
      'VALIDATION_FAILED',
      `quorum ${quorum} must be 1…${opts.witnesses.length} (the trusted witnesses)`,
    );
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const maxFuture = opts.maxFutureSeconds ?? 300;
  const text = new TextEncoder().encode(parsed.text);
  const found: Cosignature[] = [];
  for (const sig of parsed.signatures) {
    const w = opts.witnesses.find((x) => x.name === sig.name && x.keyId === sig.keyId);
    if (!w) continue;
    const id = `${sig.name}+${hex8(sig.keyId)}`;
    if (sig.signature.length !== TIMESTAMPED_SIGNATURE_SIZE || !w.verify(text, sig.signature))
      throw new StellaError('TLOG_COSIGNATURE_INVALID', `the cosignature by ${id} does not verify`, {
        details: { name: sig.name, keyId: hex8(sig.keyId) },
      });
    const timestamp = Number(Buffer.from(sig.signature.buffer, sig.signature.byteOffset, 8).readBigUInt64BE(0));
    if (timestamp > now + maxFuture)
      throw new StellaError(
        'TLOG_COSIGNATURE_INVALID',
        `the cosignature by ${id} is dated ${timestamp}, in the future`,
        {
          details: { name: sig.name, keyId: hex8(sig.keyId), timestamp, now },
        },
      );
    if (!found.some((f) => f.name === sig.name && f.keyId === sig.keyId))
      found.push({ name: sig.name, keyId: sig.keyId, timestamp, base64: sig.base64 });
  }
  if (found.length < quorum)
    throw new StellaError(
      'TLOG_WITNESS_QUORUM',
      `${found.length} of the ${opts.witnesses.length} trusted witnesses cosigned; ${quorum} required`,
      {
        details: {
          cosigned: found.map((f) => `${f.name}+${hex8(f.keyId)}`),
          lines: parsed.signatures.map((s) => `${s.name}+${hex8(s.keyId)}`),
          quorum,
        },
      },
    );
  return found;
}
