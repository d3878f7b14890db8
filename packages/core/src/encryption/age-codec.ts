/**
 * age v1 (C2SP age spec) through the `age-encryption` package (typage 0.3.1), restricted to
 * X25519 recipients: Debian's age 1.1.1 does not know the post-quantum types, so identities
 * are always made with `generateX25519Identity()` (spec §5, pitfall 9).
 *
 * Streaming: typage accepts and returns WHATWG ReadableStreams and processes 64 KiB STREAM chunks,
 * so {@link ageEncryptStream} / {@link ageDecryptStream} run in flat memory. Decrypted output
 * must be treated as untrusted until the stream ends without an error (a truncated file is only
 * detected at its end — write to a temp file and rename on success).
 */
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { Decrypter, Encrypter, armor, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { StellaError } from '../errors/index.js';

/** An X25519 key pair in age's Bech32 encodings. */
export interface AgeKeyPair {
  /** `AGE-SECRET-KEY-1…` */
  identity: string;
  /** `age1…` */
  recipient: string;
}

const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const AGE_MAGIC = 'age-encryption.org/v1\n';

/** Generate a fresh X25519 identity and its recipient. */
export async function generateAgeIdentity(): Promise<AgeKeyPair> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** The `age1…` recipient of an `AGE-SECRET-KEY-1…` identity (KEY_INVALID when malformed). */
export async function ageRecipientOf(identity: string): Promise<string> {
  if (!identity.startsWith('AGE-SECRET-KEY-1'))
    throw new StellaError('KEY_INVALID', 'not an age X25519 identity (AGE-SECRET-KEY-1…)');
  try {
    return await identityToRecipient(identity);
  } catch (err) {
    throw new StellaError('KEY_INVALID', `invalid age identity: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Read an identity file as written by `age-keygen` (comments, blank lines, one or more
 * `AGE-SECRET-KEY-1…` lines). Pure: the caller reads the file.
 */
export function parseAgeIdentityFile(text: string): string[] {
  const ids = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (ids.length === 0 || ids.some((l) => !l.startsWith('AGE-SECRET-KEY-1'))) {
    throw new StellaError('KEY_INVALID', 'an age identity file holds AGE-SECRET-KEY-1… lines (and # comments) only');
  }
  return ids;
}

function encrypterFor(recipients: readonly string[]): Encrypter {
  if (recipients.length === 0) throw new StellaError('VALIDATION_FAILED', 'at least one age recipient is required');
  const e = new Encrypter();
  for (const r of recipients) {
    if (!r.startsWith('age1') || r.startsWith('age1pq') || r.startsWith('age1tag')) {
      throw new StellaError('KEY_INVALID', `not an age X25519 recipient: ${r.slice(0, 12)}…`);
    }
    try {
      e.addRecipient(r);
    } catch (err) {
      throw new StellaError('KEY_INVALID', `invalid age recipient: ${(err as Error).message}`, { cause: err });
    }
  }
  return e;
}

function decrypterFor(identities: readonly string[]): Decrypter {
  if (identities.length === 0) throw new StellaError('VALIDATION_FAILED', 'at least one age identity is required');
  const d = new Decrypter();
  for (const id of identities) {
    try {
      d.addIdentity(id);
    } catch (err) {
      throw new StellaError('KEY_INVALID', `invalid age identity: ${(err as Error).message}`, { cause: err });
    }
  }
  return d;
}

/**
 * Map typage's plain Errors to the registry: structural header problems are ENCRYPTION_INVALID,
 * everything that means "cannot open this" (no matching identity, bad HMAC, bad tag, truncation)
 * is DECRYPT_FAILED.
 */
function mapAgeError(err: unknown): StellaError {
  if (err instanceof StellaError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const structural =
    /^(invalid (stanza|version|header|footer|line length|base64)|invalid \w+ stanza|scrypt recipient is not the only one)$/.test(
      msg,
    ) || msg.startsWith('invalid version');
  return new StellaError(structural ? 'ENCRYPTION_INVALID' : 'DECRYPT_FAILED', `age: ${msg}`, { cause: err });
}

/** Encrypt bytes to X25519 recipients; `armor` gives the PEM-like ASCII form (`age -a`). */
export async function ageEncrypt(
  plaintext: Uint8Array,
  recipients: readonly string[],
  options: { armor?: boolean } = {},
): Promise<Uint8Array> {
  const ct = await encrypterFor(recipients).encrypt(plaintext);
  return options.armor ? new TextEncoder().encode(armor.encode(ct)) : ct;
}

function dearmor(ciphertext: Uint8Array): Uint8Array {
  const head = new TextDecoder().decode(ciphertext.subarray(0, 64)).trimStart();
  if (!head.startsWith(ARMOR_BEGIN)) return ciphertext;
  try {
    return armor.decode(new TextDecoder('utf-8', { fatal: true }).decode(ciphertext));
  } catch (err) {
    throw mapAgeError(err);
  }
}

/** Decrypt a binary or armored age file. */
export async function ageDecrypt(ciphertext: Uint8Array, identities: readonly string[]): Promise<Uint8Array> {
  const bin = dearmor(ciphertext);
  if (new TextDecoder().decode(bin.subarray(0, AGE_MAGIC.length)) !== AGE_MAGIC) {
    throw new StellaError('ENCRYPTION_INVALID', 'not an age v1 file (missing "age-encryption.org/v1" header)');
  }
  const d = decrypterFor(identities);
  try {
    return await d.decrypt(bin);
  } catch (err) {
    throw mapAgeError(err);
  }
}

type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

function toWebStream(source: ByteSource): ReadableStream<Uint8Array> {
  return ReadableStream.from(
    (async function* () {
      for await (const c of source) yield c instanceof Uint8Array ? c : new Uint8Array(c as ArrayBuffer);
    })(),
  );
}

async function* mapStreamErrors(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  } catch (err) {
    throw mapAgeError(err);
  } finally {
    reader.releaseLock();
  }
}

/** Streaming age encryption (binary form): plaintext chunks in, a Readable of ciphertext out. */
export async function ageEncryptStream(source: ByteSource, recipients: readonly string[]): Promise<Readable> {
  const e = encrypterFor(recipients);
  const out = (await e.encrypt(
    toWebStream(source) as unknown as globalThis.ReadableStream<Uint8Array>,
  )) as unknown as ReadableStream<Uint8Array>;
  return Readable.from(mapStreamErrors(out), { objectMode: false });
}

/**
 * Streaming age decryption (binary form). The header is parsed before this resolves, so a wrong
 * key or malformed header rejects here; payload damage surfaces as an 'error' on the Readable.
 */
export async function ageDecryptStream(source: ByteSource, identities: readonly string[]): Promise<Readable> {
  const d = decrypterFor(identities);
  let out: ReadableStream<Uint8Array>;
  try {
    out = (await d.decrypt(
      toWebStream(source) as unknown as globalThis.ReadableStream<Uint8Array>,
    )) as unknown as ReadableStream<Uint8Array>;
  } catch (err) {
    throw mapAgeError(err);
  }
  return Readable.from(mapStreamErrors(out), { objectMode: false });
}
