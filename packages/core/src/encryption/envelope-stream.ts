/**
 * Streaming AES-256-GCM envelope encryption (format in envelope-format.ts and
 * docs/formats/encryption.md). Both directions are node:stream Transforms that hold at most about
 * two chunks in memory, whatever the input size.
 *
 * STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015, as used by age): chunk i is sealed
 * under nonce = prefix ‖ i ‖ last-flag, so reordering (counter), truncation at a chunk boundary
 * and dropping the tail (no chunk with the last flag) all fail authentication.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StellaError } from '../errors/index.js';
import {
  DEFAULT_CHUNK_SIZE,
  MAX_HEADER_BYTES,
  NONCE_PREFIX_BYTES,
  TAG_BYTES,
  chunkNonce,
  deriveKeys,
  encodeHeaderBody,
  headerMac,
  macMatches,
  parseEnvelopeHeader,
  type EnvelopeHeader,
  type EnvelopeStanza,
} from './envelope-format.js';
import type { KeyWrapper } from './key-wrappers.js';

/** Options for {@link createEncryptStream}. */
export interface EncryptOptions {
  /** One wrapped copy of the DEK per wrapper (1…64). */
  recipients: readonly KeyWrapper[];
  /** Plaintext bytes per chunk (default 64 KiB). */
  chunkSize?: number;
  /** Randomness source; inject only in tests (fixed bytes → deterministic output with AES-KW). */
  random?: (n: number) => Uint8Array;
}

/** A FIFO of buffers with O(1) append and exact-size takes (no quadratic concatenation). */
class ByteQueue {
  private bufs: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length) {
      this.bufs.push(b);
      this.length += b.length;
    }
  }
  take(n: number): Buffer {
    const first = this.bufs[0];
    if (first && first.length >= n) {
      // Fast path, no copy: a view of the head buffer (inputs are usually ≥ one chunk).
      this.bufs[0] = first.subarray(n);
      if (this.bufs[0].length === 0) this.bufs.shift();
      this.length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const head = this.bufs[0]!;
      const need = n - off;
      if (head.length <= need) {
        head.copy(out, off);
        off += head.length;
        this.bufs.shift();
      } else {
        head.copy(out, off, 0, need);
        this.bufs[0] = head.subarray(need);
        off += need;
      }
    }
    this.length -= n;
    return out;
  }
  peekAll(): Buffer {
    return this.bufs.length === 1 ? this.bufs[0]! : Buffer.concat(this.bufs, this.length);
  }
}

const MAX_CHUNKS = 2 ** 32;

class EnvelopeEncryptor extends Transform {
  private readonly queue = new ByteQueue();
  private readonly chunkSize: number;
  private counter = 0;
  private payloadKey?: Buffer;
  private noncePrefix?: Uint8Array;
  private started?: Promise<void>;

  constructor(private readonly options: EncryptOptions) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    // Buffer about two chunks on each side so one input write does not stall on every push.
    super({ writableHighWaterMark: chunkSize * 2, readableHighWaterMark: chunkSize * 2 });
    this.chunkSize = chunkSize;
    // Validate eagerly so misuse fails at construction, not mid-stream.
    encodeHeaderBody({
      chunkSize: this.chunkSize,
      noncePrefix: new Uint8Array(NONCE_PREFIX_BYTES),
      stanzas: options.recipients.map((r) => ({ kind: r.kind, id: r.id, body: new Uint8Array(1) })),
    });
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      const random = this.options.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
      const dek = random(32);
      const noncePrefix = random(NONCE_PREFIX_BYTES);
      const stanzas: EnvelopeStanza[] = [];
      for (const r of this.options.recipients) stanzas.push({ kind: r.kind, id: r.id, body: await r.wrap(dek) });
      const body = encodeHeaderBody({ chunkSize: this.chunkSize, noncePrefix, stanzas });
      const { headerKey, payloadKey } = deriveKeys(dek, noncePrefix);
      this.payloadKey = payloadKey;
      this.noncePrefix = noncePrefix;
      this.push(Buffer.from(body));
      this.push(Buffer.from(headerMac(headerKey, body)));
    })();
    return this.started;
  }

  private seal(plain: Buffer, last: boolean): void {
    if (this.counter >= MAX_CHUNKS)
      throw new StellaError('VALIDATION_FAILED', 'input exceeds 2^32 chunks; use a larger chunk size');
    const c = createCipheriv('aes-256-gcm', this.payloadKey!, chunkNonce(this.noncePrefix!, this.counter++, last));
    const body = c.update(plain);
    c.final(); // GCM emits nothing here; it computes the tag
    if (body.length) this.push(body);
    this.push(c.getAuthTag());
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.start()
      .then(() => {
        this.queue.push(chunk);
        // Hold back one full chunk: only at the end do we know which chunk is the last.
        while (this.queue.length > this.chunkSize) this.seal(this.queue.take(this.chunkSize), false);
      })
      .then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.start()
      .then(() => this.seal(this.queue.take(this.queue.length), true))
      .then(() => cb(), cb);
  }
}

/** A Transform: plaintext in, Stella envelope out. */
export function createEncryptStream(options: EncryptOptions): Transform {
  return new EnvelopeEncryptor(options);
}

/** Options for {@link createDecryptStream}. */
export interface DecryptOptions {
  /** Wrappers that can unwrap (their `kind` and `id` select the stanza they open). */
  unwrappers: readonly KeyWrapper[];
  /** Called once the header is authenticated, with the stanza that opened it. */
  onHeader?: (header: EnvelopeHeader, opened: { kind: string; id: string }) => void;
}

function decryptFailed(message: string, details?: Record<string, unknown>): StellaError {
  return new StellaError('DECRYPT_FAILED', message, details ? { details } : {});
}

class EnvelopeDecryptor extends Transform {
  private readonly queue = new ByteQueue();
  private header?: EnvelopeHeader;
  private payloadKey?: Buffer;
  private counter = 0;
  private seen = 0;

  constructor(private readonly options: DecryptOptions) {
    super({ writableHighWaterMark: 128 * 1024, readableHighWaterMark: 128 * 1024 });
    if (options.unwrappers.length === 0)
      throw new StellaError('VALIDATION_FAILED', 'at least one key is needed to decrypt');
  }

  private async openHeader(): Promise<void> {
    const parsed = parseEnvelopeHeader(this.queue.peekAll());
    if (!parsed) {
      if (this.queue.length > MAX_HEADER_BYTES)
        throw new StellaError('ENCRYPTION_INVALID', 'envelope header: too large');
      return;
    }
    const { header, length } = parsed;
    let macFailure = false;
    for (const stanza of header.stanzas) {
      for (const w of this.options.unwrappers) {
        if (w.kind !== stanza.kind || w.id !== stanza.id || !w.unwrap) continue;
        let dek: Uint8Array;
        try {
          dek = await w.unwrap(stanza.body);
        } catch {
          continue; // not this key (RSA/age) or damaged wrap (AES-KW integrity check)
        }
        if (dek.byteLength !== 32) continue;
        const keys = deriveKeys(dek, header.noncePrefix);
        if (!macMatches(headerMac(keys.headerKey, header.macInput), header.mac)) {
          macFailure = true;
          continue;
        }
        this.queue.take(length);
        this.header = header;
        this.payloadKey = keys.payloadKey;
        this.options.onHeader?.(header, { kind: stanza.kind, id: stanza.id });
        return;
      }
    }
    if (macFailure) throw decryptFailed('envelope header MAC mismatch: the header was altered');
    throw decryptFailed('none of the given keys can unwrap the data key (wrong key?)', {
      recipients: header.stanzas.map((s) => ({ kind: s.kind, id: s.id })),
    });
  }

  private open(sealed: Buffer, last: boolean): Buffer {
    const d = createDecipheriv(
      'aes-256-gcm',
      this.payloadKey!,
      chunkNonce(this.header!.noncePrefix, this.counter, last),
    );
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
      d.final(); // throws when the tag does not authenticate; GCM returns no further bytes
    } catch {
      throw decryptFailed(
        last
          ? `chunk ${this.counter} does not authenticate as the final chunk: the stream was truncated, reordered or altered`
          : `chunk ${this.counter} does not authenticate: the data was altered or reordered`,
        { chunk: this.counter },
      );
    }
    this.counter++;
    return plain;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.queue.push(chunk);
    this.seen += chunk.length;
    (async () => {
      if (!this.header) await this.openHeader();
      if (!this.header) return;
      const sealedSize = this.header.chunkSize + TAG_BYTES;
      // More than one sealed chunk buffered ⇒ the first one is not the last.
      while (this.queue.length > sealedSize) this.push(this.open(this.queue.take(sealedSize), false));
    })().then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    (async () => {
      if (!this.header) {
        if (this.seen === 0) throw new StellaError('ENCRYPTION_INVALID', 'empty input: not a Stella envelope');
        await this.openHeader();
        if (!this.header) throw new StellaError('ENCRYPTION_INVALID', 'envelope header: truncated');
      }
      const rest = this.queue.take(this.queue.length);
      if (rest.length < TAG_BYTES) throw decryptFailed('the stream ends without its final chunk (truncated)');
      const plain = this.open(rest, true);
      // As in age: the final chunk is empty only when the whole payload is.
      if (plain.length === 0 && this.counter > 1) throw decryptFailed('empty final chunk after data');
      this.push(plain);
    })().then(() => cb(), cb);
  }
}

/**
 * A Transform: Stella envelope in, plaintext out. Errors: ENCRYPTION_INVALID (not an envelope,
 * malformed header), DECRYPT_FAILED (no usable key, header MAC, any chunk failing, truncation).
 * Output already emitted before an error must be discarded — write to a temp file and rename only
 * after 'finish' (the CLI and {@link decryptEnvelope} do).
 */
export function createDecryptStream(options: DecryptOptions): Transform {
  return new EnvelopeDecryptor(options);
}

async function collect(t: Transform, input: Uint8Array): Promise<Uint8Array> {
  const out: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    t.on('data', (c: Buffer) => out.push(c));
    t.on('end', resolve);
    t.on('error', reject);
  });
  t.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  await done;
  return new Uint8Array(Buffer.concat(out));
}

/** Encrypt a whole buffer (convenience over {@link createEncryptStream}). */
export function encryptEnvelope(plaintext: Uint8Array, options: EncryptOptions): Promise<Uint8Array> {
  return collect(createEncryptStream(options), plaintext);
}

/** Decrypt a whole buffer; resolves only when every chunk authenticated. */
export function decryptEnvelope(ciphertext: Uint8Array, options: DecryptOptions): Promise<Uint8Array> {
  return collect(createDecryptStream(options), ciphertext);
}
