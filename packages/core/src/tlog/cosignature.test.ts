// C2SP tlog-cosignature v1 (Ed25519): our cosigner and verifier against each other, against the
// spec's fixed message layout (re-derived here with node:crypto), and the coded bad inputs:
// unknown witness key, tampered line, future timestamp, wrong key type.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify as edVerify } from 'node:crypto';
import { isStellaError } from '@stella/core/errors';
import {
  COSIGNATURE_ALG_ED25519,
  addCosignatures,
  cosignNote,
  generateCosignerKey,
  generateNoteKey,
  openCheckpoint,
  openNote,
  parseCosignerKey,
  parseCosignerVerifierKey,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  verifyCosignatures,
} from '@stella/core/tlog';

const code = (c: string) => (err: unknown) => isStellaError(err) && err.code === c;
const ORIGIN = 'stella.test/timeline/acme';

async function checkpointNote() {
  const log = generateNoteKey(ORIGIN, randomBytes(32));
  const note = await signCheckpoint({ origin: ORIGIN, size: 5, rootHash: new Uint8Array(32).fill(7), extensions: [] }, [
    parseSignerKey(log.skey),
  ]);
  return { log, note };
}

describe('tlog-cosignature v1', () => {
  test('cosign → verify; the line is key ID || u64 time || Ed25519 over "cosignature/v1\\ntime T\\n" + body', async () => {
    const { log, note } = await checkpointNote();
    const w = generateCosignerKey('witness.test/w1', randomBytes(32));
    const signer = parseCosignerKey(w.skey);
    const cosigned = await cosignNote(note, signer, 1_700_000_000);
    const parsed = parseNote(cosigned);
    assert.equal(parsed.signatures.length, 2);
    assert.equal(parsed.signatures[0]!.name, ORIGIN, 'the log line stays first');
    const line = parsed.signatures[1]!;
    assert.equal(line.name, 'witness.test/w1');
    assert.equal(line.signature.length, 72);
    assert.equal(Buffer.from(line.signature.subarray(0, 8)).readBigUInt64BE(0), 1_700_000_000n);
    // Independent re-derivation of the signed message and key ID (spec text, node:crypto only).
    // base64 may itself hold '+': the key is everything after the second one.
    const pub = Buffer.from(w.vkey.split('+').slice(2).join('+'), 'base64');
    assert.equal(pub[0], COSIGNATURE_ALG_ED25519);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub.subarray(1)]);
    const msg = Buffer.from(`cosignature/v1\ntime 1700000000\n${parsed.text}`);
    assert.ok(
      edVerify(null, msg, createPublicKey({ key: spki, format: 'der', type: 'spki' }), line.signature.subarray(8)),
    );
    const found = verifyCosignatures(cosigned, { witnesses: [parseCosignerVerifierKey(w.vkey)], now: 1_700_000_100 });
    assert.deepEqual(
      found.map((f) => [f.name, f.timestamp]),
      [['witness.test/w1', 1_700_000_000]],
    );
    // The log's own verification ignores the witness line; a witness key cannot pass as the log key.
    const cp = openCheckpoint(cosigned, { origin: ORIGIN, verifiers: [parseVerifierKey(log.vkey)] });
    assert.equal(cp.unverified.length, 1);
    // A cosignature verifier is a note verifier (as in Go): it opens the note by the witness line.
    assert.deepEqual(
      openNote(cosigned, [parseCosignerVerifierKey(w.vkey)]).verified.map((s) => s.name),
      ['witness.test/w1'],
    );
    assert.throws(() => parseVerifierKey(w.vkey), code('TLOG_KEY_INVALID'));
  });

  test('a newer cosignature by the same witness replaces the old line; others are kept', async () => {
    const { note } = await checkpointNote();
    const a = parseCosignerKey(generateCosignerKey('w.test/a', randomBytes(32)).skey);
    const b = parseCosignerKey(generateCosignerKey('w.test/b', randomBytes(32)).skey);
    let n = await cosignNote(note, a, 100);
    n = await cosignNote(n, b, 101);
    n = await cosignNote(n, a, 102);
    const sigs = parseNote(n).signatures;
    assert.deepEqual(
      sigs.map((s) => s.name),
      [ORIGIN, 'w.test/b', 'w.test/a'],
    );
    const found = verifyCosignatures(n, {
      witnesses: [parseCosignerVerifierKey(a.vkey), parseCosignerVerifierKey(b.vkey)],
      quorum: 2,
      now: 200,
    });
    assert.deepEqual(found.map((f) => f.timestamp).sort(), [101, 102]);
    // addCosignatures merges lines from elsewhere (a witness's response) without duplicates.
    const again = addCosignatures(n, [sigs[1]!]);
    assert.equal(parseNote(again).signatures.length, 3);
  });

  test('unknown witness key: TLOG_WITNESS_QUORUM (its line is ignored, not trusted)', async () => {
    const { note } = await checkpointNote();
    const stranger = parseCosignerKey(generateCosignerKey('w.test/stranger', randomBytes(32)).skey);
    const trusted = parseCosignerVerifierKey(generateCosignerKey('w.test/trusted', randomBytes(32)).vkey);
    const n = await cosignNote(note, stranger, 100);
    assert.throws(() => verifyCosignatures(n, { witnesses: [trusted], now: 200 }), code('TLOG_WITNESS_QUORUM'));
    // Same name, other key: still unknown (the key ID differs).
    const impostor = parseCosignerKey(generateCosignerKey('w.test/trusted', randomBytes(32)).skey);
    const n2 = await cosignNote(note, impostor, 100);
    assert.throws(() => verifyCosignatures(n2, { witnesses: [trusted], now: 200 }), code('TLOG_WITNESS_QUORUM'));
    // Quorum 2 with one cosignature.
    const w = generateCosignerKey('w.test/one', randomBytes(32));
    const n3 = await cosignNote(note, parseCosignerKey(w.skey), 100);
    assert.throws(
      () => verifyCosignatures(n3, { witnesses: [parseCosignerVerifierKey(w.vkey), trusted], quorum: 2, now: 200 }),
      code('TLOG_WITNESS_QUORUM'),
    );
  });

  test('tampered body, timestamp or signature: TLOG_COSIGNATURE_INVALID; future time refused', async () => {
    const { note } = await checkpointNote();
    const w = generateCosignerKey('w.test/t', randomBytes(32));
    const v = parseCosignerVerifierKey(w.vkey);
    const n = await cosignNote(note, parseCosignerKey(w.skey), 1000);
    const line = parseNote(n).signatures[1]!;
    const raw = Buffer.from(line.base64, 'base64');
    for (const flip of [4, 11, 12, 75]) {
      const bad = Buffer.from(raw);
      bad[flip]! ^= 1;
      const tampered = n.replace(line.base64, bad.toString('base64'));
      assert.throws(
        () => verifyCosignatures(tampered, { witnesses: [v], now: 2000 }),
        code('TLOG_COSIGNATURE_INVALID'),
        `byte ${flip}`,
      );
    }
    // Another body with the old line.
    const other = n.replace('\n5\n', '\n6\n');
    assert.throws(() => verifyCosignatures(other, { witnesses: [v], now: 2000 }), code('TLOG_COSIGNATURE_INVALID'));
    assert.throws(() => verifyCosignatures(n, { witnesses: [v], now: 500 }), code('TLOG_COSIGNATURE_INVALID'));
    assert.equal(verifyCosignatures(n, { witnesses: [v], now: 800, maxFutureSeconds: 300 }).length, 1);
  });

  test('keys: 0x04 vkeys and skeys round-trip; a 0x01 vkey maps to the 0x04 key; bad keys are TLOG_KEY_INVALID', () => {
    const seed = randomBytes(32);
    const w = generateCosignerKey('w.test/k', seed);
    assert.match(w.vkey, /^w\.test\/k\+[0-9a-f]{8}\+/);
    assert.equal(parseCosignerKey(w.skey).vkey, w.vkey);
    // The log-style key of the same seed (type 0x01) verifies as the same witness.
    const asLogKey = generateNoteKey('w.test/k', seed);
    assert.equal(parseCosignerVerifierKey(asLogKey.vkey).vkey, w.vkey);
    assert.equal(parseCosignerKey(asLogKey.skey).vkey, w.vkey);
    for (const bad of [
      '',
      'w.test/k+00000000+' + w.vkey.split('+').slice(2).join('+'), // wrong key ID
      `${w.vkey.split('+').slice(0, 2).join('+')}+AQID`, // too short a key
      'a b+12345678+BAAA',
    ])
      assert.throws(() => parseCosignerVerifierKey(bad), code('TLOG_KEY_INVALID'), bad);
    assert.throws(() => parseCosignerKey(w.skey.replace('PRIVATE', 'PUBLIC')), code('TLOG_KEY_INVALID'));
  });
});
