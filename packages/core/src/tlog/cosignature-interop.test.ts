// Independent verification of our witness cosignatures (issue 12 item 6): transparency-dev/formats
// `note.NewVerifierForCosignatureV1` with x/mod `note.Open` (harness interop/cmd/tlog-check
// `cosig-verify`) verifies the lines we write and reads their timestamps; and our verifier checks
// the lines Go's `NewSignerForCosignatureV1` writes on our checkpoints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { goHarness, needGo, run, tempDir } from '@stella/testkit';
import {
  cosignNote,
  generateCosignerKey,
  generateNoteKey,
  openCheckpoint,
  parseCosignerKey,
  parseCosignerVerifierKey,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  verifyCosignatures,
} from '@stella/core/tlog';

const skip = needGo();
const ORIGIN = 'stella.test/evidence/acme';

describe('tlog-cosignature against transparency-dev/formats', { skip }, () => {
  let bin = '';
  let tmp: { path: string; cleanup: () => Promise<void> };
  let n = 0;
  const go = async (args: string[], note: string) => {
    const file = join(tmp.path, `note-${n++}.txt`);
    await writeFile(file, note);
    const r = await run(bin, [...args, '-in', file], { timeoutMs: 120_000 });
    return { code: r.code, json: JSON.parse(r.stdout.toString()) as Record<string, unknown> };
  };
  before(async () => {
    bin = await goHarness('tlog-check');
    tmp = await tempDir('tlog-cosig-interop-');
  });
  after(() => tmp.cleanup());

  const checkpoint = async () => {
    const log = generateNoteKey(ORIGIN, randomBytes(32));
    const note = await signCheckpoint(
      { origin: ORIGIN, size: 1234567, rootHash: randomBytes(32), extensions: ['ext line'] },
      [parseSignerKey(log.skey)],
    );
    return { log, note };
  };

  test('Go verifies our cosignature (key ID, message with the extension line, timestamp)', async () => {
    const { note } = await checkpoint();
    const w = generateCosignerKey('witness.example/w1', randomBytes(32));
    const cosigned = await cosignNote(note, parseCosignerKey(w.skey), 1_765_000_000);
    const r = await go(['cosig-verify', '-vkey', w.vkey], cosigned);
    assert.equal(r.code, 0, JSON.stringify(r.json));
    assert.deepEqual(r.json.timestamps, [1_765_000_000]);
    assert.deepEqual(
      (r.json.sigs as { name: string; hash: number }[]).map((s) => [s.name, s.hash]),
      [['witness.example/w1', parseCosignerVerifierKey(w.vkey).keyId]],
    );
    assert.deepEqual(
      (r.json.unverifiedSigs as { name: string }[]).map((s) => s.name),
      [ORIGIN],
    );
    // A flipped signature byte: Go refuses it too.
    const line = cosigned.trimEnd().split('\n').at(-1)!;
    const b64 = line.split(' ')[2]!;
    const raw = Buffer.from(b64, 'base64');
    raw[40]! ^= 1;
    const bad = await go(['cosig-verify', '-vkey', w.vkey], cosigned.replace(b64, raw.toString('base64')));
    assert.equal(bad.code, 1);
    assert.equal(bad.json.kind, 'invalid-signature');
    // Another witness's key: Go finds no verified signature (unknown key), as we do.
    const other = generateCosignerKey('witness.example/w2', randomBytes(32));
    const unknown = await go(['cosig-verify', '-vkey', other.vkey], cosigned);
    assert.equal(unknown.json.kind, 'unverified');
  });

  test('we verify the cosignature Go adds to our checkpoint, and the log signature still opens', async () => {
    const { log, note } = await checkpoint();
    const w = generateCosignerKey('witness.example/go', randomBytes(32));
    const before = Math.floor(Date.now() / 1000);
    const r = await go(['cosign', '-skey', w.skey], note);
    assert.equal(r.code, 0, JSON.stringify(r.json));
    const cosigned = r.json.note as string;
    const found = verifyCosignatures(cosigned, { witnesses: [parseCosignerVerifierKey(w.vkey)] });
    assert.equal(found.length, 1);
    assert.ok(found[0]!.timestamp >= before - 1 && found[0]!.timestamp <= before + 60);
    const cp = openCheckpoint(cosigned, { origin: ORIGIN, verifiers: [parseVerifierKey(log.vkey)] });
    assert.equal(cp.size, 1234567);
    assert.equal(cp.unverified[0]!.name, 'witness.example/go');
  });
});
