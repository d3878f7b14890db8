import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { assertRejectsStella, needTool, tempDir } from '@stella/testkit';
import { StellaError, isStellaError } from '../errors/index.js';
import {
  DEFAULT_CHUNK_SIZE,
  TAG_BYTES,
  aesKeyWrapper,
  ageKeyWrapper,
  createDecryptStream,
  createEncryptStream,
  decryptEnvelope,
  encryptEnvelope,
  generateAgeIdentity,
  parseEnvelopeHeader,
  rsaOaepKeyWrapper,
  type KeyWrapper,
} from './index.js';
import { encodeHeaderBody } from './envelope-format.js';

const kek = new Uint8Array(32).map((_, i) => i);
const kw = aesKeyWrapper({ kek, id: 'kms:projects/p/keys/export-kek' });

/** Deterministic "randomness" for tests only: a counter-based byte stream. */
function fixedRandom(seed: number): (n: number) => Uint8Array {
  let x = seed;
  return (n) => new Uint8Array(n).map(() => (x = (x * 1103515245 + 12345) & 0xff));
}

/** Offsets of the sealed chunks of an envelope. */
function chunkOffsets(ct: Uint8Array, chunkSize: number): { headerLength: number; chunks: [number, number][] } {
  const { length } = parseEnvelopeHeader(ct)!;
  const chunks: [number, number][] = [];
  for (let off = length; off < ct.length; off += chunkSize + TAG_BYTES)
    chunks.push([off, Math.min(off + chunkSize + TAG_BYTES, ct.length)]);
  return { headerLength: length, chunks };
}

describe('AES-256-GCM envelope', () => {
  const C = DEFAULT_CHUNK_SIZE;
  for (const size of [0, 1, C - 1, C, C + 1, 2 * C, 3 * 1024 * 1024 + 5]) {
    test(`roundtrip ${size} bytes`, async () => {
      const plain = randomBytes(size);
      const ct = await encryptEnvelope(plain, { recipients: [kw] });
      const chunks = Math.max(1, Math.ceil(size / C));
      assert.equal(ct.length, parseEnvelopeHeader(ct)!.length + size + chunks * TAG_BYTES);
      assert.deepEqual(Buffer.from(await decryptEnvelope(ct, { unwrappers: [kw] })), plain);
    });
  }

  test('streams a 32 MiB input through both transforms with small chunks in flight', async () => {
    const total = 32 * 1024 * 1024;
    const src = Readable.from(
      (function* () {
        const block = Buffer.alloc(1 << 20, 0x61);
        for (let i = 0; i < total / block.length; i++) yield block;
      })(),
    );
    const h = createHash('sha256');
    let n = 0;
    await pipeline(
      src,
      createEncryptStream({ recipients: [kw] }),
      createDecryptStream({ unwrappers: [kw] }),
      new Writable({
        write(c: Buffer, _e, cb) {
          h.update(c);
          n += c.length;
          cb();
        },
      }),
    );
    assert.equal(n, total);
    assert.equal(h.digest('hex'), createHash('sha256').update(Buffer.alloc(total, 0x61)).digest('hex'));
  });

  test('same key material and randomness → byte-identical output; fresh randomness → different', async () => {
    const plain = randomBytes(200_000);
    const a = await encryptEnvelope(plain, { recipients: [kw], random: fixedRandom(7) });
    const b = await encryptEnvelope(plain, { recipients: [kw], random: fixedRandom(7) });
    assert.deepEqual(a, b);
    const c = await encryptEnvelope(plain, { recipients: [kw] });
    assert.notDeepEqual(a, c);
    assert.deepEqual(Buffer.from(await decryptEnvelope(c, { unwrappers: [kw] })), plain);
  });

  test('several recipients (AES-KW, RSA-OAEP-256, age X25519): each opens it alone', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const age = await generateAgeIdentity();
    const recipients: KeyWrapper[] = [
      kw,
      rsaOaepKeyWrapper({ publicKey: rsa.publicKey }),
      await ageKeyWrapper({ recipient: age.recipient }),
    ];
    const plain = randomBytes(100_000);
    const ct = await encryptEnvelope(plain, { recipients });
    assert.deepEqual(
      parseEnvelopeHeader(ct)!.header.stanzas.map((s) => s.kind),
      ['aes256-kw', 'rsa-oaep-256', 'age-x25519'],
    );
    for (const u of [
      kw,
      rsaOaepKeyWrapper({ privateKey: rsa.privateKey }),
      await ageKeyWrapper({ identity: age.identity }),
    ]) {
      let opened = '';
      const out = await decryptEnvelope(ct, { unwrappers: [u], onHeader: (_h, o) => (opened = o.kind) });
      assert.deepEqual(Buffer.from(out), plain);
      assert.equal(opened, u.kind);
    }
  });

  test('wrong keys fail with DECRYPT_FAILED and nothing is emitted', async () => {
    const ct = await encryptEnvelope(randomBytes(1000), { recipients: [kw] });
    await assertRejectsStella(
      decryptEnvelope(ct, { unwrappers: [aesKeyWrapper({ kek: randomBytes(32), id: kw.id })] }),
      'DECRYPT_FAILED',
      /unwrap/,
    );
    await assertRejectsStella(
      decryptEnvelope(ct, { unwrappers: [aesKeyWrapper({ kek, id: 'another-id' })] }),
      'DECRYPT_FAILED',
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ct2 = await encryptEnvelope(randomBytes(10), {
      recipients: [rsaOaepKeyWrapper({ publicKey: rsa.publicKey })],
    });
    await assertRejectsStella(
      decryptEnvelope(ct2, { unwrappers: [rsaOaepKeyWrapper({ publicKey: rsa.publicKey })] }),
      'DECRYPT_FAILED',
    );
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const id = rsaOaepKeyWrapper({ publicKey: rsa.publicKey }).id;
    await assertRejectsStella(
      decryptEnvelope(ct2, { unwrappers: [rsaOaepKeyWrapper({ privateKey: other.privateKey, id })] }),
      'DECRYPT_FAILED',
    );
  });

  test('tampering, truncation, dropped tail, swapped chunks and trailing data are all detected', async () => {
    const chunkSize = 1024;
    const plain = randomBytes(chunkSize * 4 + 100);
    const ct = Buffer.from(await encryptEnvelope(plain, { recipients: [kw], chunkSize }));
    const { headerLength, chunks } = chunkOffsets(ct, chunkSize);
    assert.equal(chunks.length, 5);
    const dec = (b: Uint8Array) => decryptEnvelope(b, { unwrappers: [kw] });

    const flipped = Buffer.from(ct);
    flipped[chunks[2]![0] + 10]! ^= 1;
    await assertRejectsStella(dec(flipped), 'DECRYPT_FAILED', /chunk 2/);
    await assertRejectsStella(dec(ct.subarray(0, chunks[4]![0])), 'DECRYPT_FAILED', /final chunk/); // dropped last chunk
    await assertRejectsStella(dec(ct.subarray(0, chunks[2]![0] + 50)), 'DECRYPT_FAILED'); // cut mid-chunk
    await assertRejectsStella(dec(ct.subarray(0, headerLength + 5)), 'DECRYPT_FAILED');
    await assertRejectsStella(dec(ct.subarray(0, headerLength)), 'DECRYPT_FAILED', /truncated/);
    const [a, b] = [chunks[1]!, chunks[2]!];
    const swapped = Buffer.concat([
      ct.subarray(0, a[0]),
      ct.subarray(b[0], b[1]),
      ct.subarray(a[0], a[1]),
      ct.subarray(b[1]),
    ]);
    await assertRejectsStella(dec(swapped), 'DECRYPT_FAILED', /chunk 1/);
    await assertRejectsStella(dec(Buffer.concat([ct, Buffer.from([0])])), 'DECRYPT_FAILED');
    // Header fields are bound by the MAC: change the chunk size (still in range).
    const hdr = Buffer.from(ct);
    hdr.writeUInt32BE(2048, 10);
    await assertRejectsStella(dec(hdr), 'DECRYPT_FAILED', /MAC/);
    // And by structure.
    await assertRejectsStella(dec(ct.subarray(0, 20)), 'ENCRYPTION_INVALID', /truncated/);
    await assertRejectsStella(dec(new Uint8Array()), 'ENCRYPTION_INVALID', /empty/);
    await assertRejectsStella(dec(Buffer.from('age-encryption.org/v1\n')), 'ENCRYPTION_INVALID', /magic/);
    const v2 = Buffer.from(ct);
    v2[8] = 2;
    await assertRejectsStella(dec(v2), 'ENCRYPTION_INVALID', /version/);
  });

  test('bad options are rejected before any output', async () => {
    assert.throws(
      () => createEncryptStream({ recipients: [] }),
      (e) => isStellaError(e, 'ENCRYPTION_INVALID'),
    );
    assert.throws(
      () => createEncryptStream({ recipients: [kw], chunkSize: 10 }),
      (e) => isStellaError(e, 'ENCRYPTION_INVALID'),
    );
    assert.throws(
      () => aesKeyWrapper({ kek: new Uint8Array(16), id: 'x' }),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
    assert.throws(
      () => rsaOaepKeyWrapper({ publicKey: 'nope' }),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(
      () => rsaOaepKeyWrapper({ publicKey: ec.publicKey }),
      (e) => isStellaError(e, 'KEY_INVALID'),
    );
    await assert.rejects(ageKeyWrapper({ recipient: 'age1notarecipient' }), (e) => isStellaError(e, 'KEY_INVALID'));
  });

  test('header parser: arbitrary bytes give undefined, a header, or ENCRYPTION_INVALID (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, withMagic) => {
        const input = withMagic
          ? Buffer.concat([Buffer.from([0x89, 0x53, 0x45, 0x4e, 0x56, 0x0d, 0x0a, 0x1a, 1, 1]), bytes])
          : bytes;
        try {
          const r = parseEnvelopeHeader(input);
          if (r) assert.ok(r.length <= input.length);
        } catch (err) {
          assert.ok(err instanceof StellaError && err.code === 'ENCRYPTION_INVALID', String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('header encode → parse roundtrip and every strict prefix asks for more (fast-check)', () => {
    const stanza = fc.record({
      kind: fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,31}$/),
      id: fc.string({ maxLength: 40 }),
      body: fc.uint8Array({ minLength: 1, maxLength: 300 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 1 << 24 }),
        fc.uint8Array({ minLength: 7, maxLength: 7 }),
        fc.array(stanza, { minLength: 1, maxLength: 5 }),
        (chunkSize, noncePrefix, stanzas) => {
          const body = encodeHeaderBody({ chunkSize, noncePrefix, stanzas });
          const full = Buffer.concat([body, Buffer.alloc(32, 9)]);
          const r = parseEnvelopeHeader(full)!;
          assert.equal(r.length, full.length);
          assert.equal(r.header.chunkSize, chunkSize);
          assert.deepEqual(
            r.header.stanzas.map((s) => [s.kind, s.id, Buffer.from(s.body).toString('hex')]),
            stanzas.map((s) => [s.kind, s.id, Buffer.from(s.body).toString('hex')]),
          );
          for (const cut of [0, 1, 9, 23, Math.floor(full.length / 2), full.length - 1])
            assert.equal(parseEnvelopeHeader(full.subarray(0, cut)), undefined);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('any single-byte change to a ciphertext is rejected with a coded error (fast-check)', async () => {
    const plain = randomBytes(3000);
    const ct = Buffer.from(await encryptEnvelope(plain, { recipients: [kw], chunkSize: 1024 }));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: ct.length - 1 }), fc.integer({ min: 1, max: 255 }), async (pos, x) => {
        const m = Buffer.from(ct);
        m[pos]! ^= x;
        await assert.rejects(
          decryptEnvelope(m, { unwrappers: [kw] }),
          (e) => isStellaError(e) && ['DECRYPT_FAILED', 'ENCRYPTION_INVALID'].includes(e.code),
        );
      }),
      { numRuns: 400 },
    );
  });
});

describe(
  'envelope opened by independent tools',
  { skip: needTool('openssl') || needTool('/usr/bin/python3', { args: ['-c', 'import cryptography'] }) },
  () => {
    let tmp: { path: string; cleanup: () => Promise<void> };
    before(async () => {
      tmp = await tempDir('stella-env-');
    });
    after(async () => tmp?.cleanup());

    test('openssl unwraps the AES-KW and RSA-OAEP stanzas; python3-cryptography decrypts the whole envelope', async () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      writeFileSync(join(tmp.path, 'rsa.key'), rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }));
      const random = fixedRandom(42);
      const dek = fixedRandom(42)(32); // the first 32 bytes the encryptor draws are the DEK
      const plain = randomBytes(150_001);
      writeFileSync(join(tmp.path, 'plain.bin'), plain);
      const ct = await encryptEnvelope(plain, {
        recipients: [kw, rsaOaepKeyWrapper({ publicKey: rsa.publicKey })],
        random,
        chunkSize: 4096,
      });
      writeFileSync(join(tmp.path, 'data.senv'), ct);
      const [kwStanza, rsaStanza] = parseEnvelopeHeader(ct)!.header.stanzas;
      writeFileSync(join(tmp.path, 'dek.kw'), kwStanza!.body);
      writeFileSync(join(tmp.path, 'dek.oaep'), rsaStanza!.body);
      const kwOut = spawnSync(
        'openssl',
        [
          'enc',
          '-d',
          '-id-aes256-wrap',
          '-iv',
          'A6A6A6A6A6A6A6A6',
          '-K',
          Buffer.from(kek).toString('hex'),
          '-in',
          'dek.kw',
        ],
        { cwd: tmp.path },
      );
      assert.equal(kwOut.status, 0, kwOut.stderr.toString());
      assert.deepEqual(new Uint8Array(kwOut.stdout), dek);
      const rsaOut = spawnSync(
        'openssl',
        [
          'pkeyutl',
          '-decrypt',
          '-inkey',
          'rsa.key',
          '-in',
          'dek.oaep',
          '-pkeyopt',
          'rsa_padding_mode:oaep',
          '-pkeyopt',
          'rsa_oaep_md:sha256',
          '-pkeyopt',
          'rsa_mgf1_md:sha256',
        ],
        { cwd: tmp.path },
      );
      assert.equal(rsaOut.status, 0, rsaOut.stderr.toString());
      assert.deepEqual(new Uint8Array(rsaOut.stdout), dek);

      // A from-the-spec reader in Python (docs/formats/encryption.md), sharing no code with ours.
      const py = `
import sys, struct, hmac, hashlib
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
kek = bytes.fromhex(sys.argv[1]); data = open(sys.argv[2], 'rb').read()
assert data[:8] == b'\\x89SENV\\r\\n\\x1a' and data[8] == 1 and data[9] == 1
chunk = struct.unpack('>I', data[10:14])[0]; prefix = data[14:21]; n = struct.unpack('>H', data[21:23])[0]; off = 23
dek = None
for _ in range(n):
    kl = data[off]; kind = data[off+1:off+1+kl].decode(); off += 1 + kl
    il = struct.unpack('>H', data[off:off+2])[0]; off += 2 + il
    bl = struct.unpack('>H', data[off:off+2])[0]; body = data[off+2:off+2+bl]; off += 2 + bl
    if kind == 'aes256-kw': dek = aes_key_unwrap(kek, body)
hk = HKDF(algorithm=hashes.SHA256(), length=32, salt=b'', info=b'stella-envelope/v1 header').derive(dek)
assert hmac.compare_digest(hmac.new(hk, data[:off], hashlib.sha256).digest(), data[off:off+32])
pk = HKDF(algorithm=hashes.SHA256(), length=32, salt=prefix, info=b'stella-envelope/v1 payload').derive(dek)
off += 32; body = data[off:]; out = []; i = 0; size = chunk + 16
while True:
    last = len(body) <= size
    piece, body = body[:size], body[size:]
    out.append(AESGCM(pk).decrypt(prefix + struct.pack('>I', i) + (b'\\x01' if last else b'\\x00'), piece, None))
    i += 1
    if last: break
sys.stdout.buffer.write(b''.join(out))
`;
      const r = spawnSync(
        '/usr/bin/python3',
        ['-c', py, Buffer.from(kek).toString('hex'), join(tmp.path, 'data.senv')],
        { maxBuffer: 1 << 24 },
      );
      assert.equal(r.status, 0, r.stderr.toString());
      assert.deepEqual(r.stdout, plain);
    });

    test('the age-x25519 stanza opens with Debian age', { skip: needTool('age') }, async () => {
      const keygen = spawnSync('age-keygen', ['-o', join(tmp.path, 'id.txt')]);
      assert.equal(keygen.status, 0);
      const recipient = spawnSync('age-keygen', ['-y', join(tmp.path, 'id.txt')])
        .stdout.toString()
        .trim();
      const dek = fixedRandom(3)(32);
      const ct = await encryptEnvelope(randomBytes(10), {
        recipients: [await ageKeyWrapper({ recipient })],
        random: fixedRandom(3),
      });
      writeFileSync(join(tmp.path, 'dek.age'), parseEnvelopeHeader(ct)!.header.stanzas[0]!.body);
      const r = spawnSync('age', ['-d', '-i', join(tmp.path, 'id.txt'), join(tmp.path, 'dek.age')]);
      assert.equal(r.status, 0, r.stderr.toString());
      assert.deepEqual(new Uint8Array(r.stdout), dek);
    });
  },
);
