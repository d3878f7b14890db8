/**
 * Shared by the evidence transparency-log e2e tests (server/src/evidence-log*.e2e.test.ts): the
 * retention harness on a fresh PostgreSQL database with a test origin, a log sequencer the tests
 * drive pass by pass, response shapes, our own proof check, and `stella` run without network.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@stella/testkit';
import { leafHash } from '@stella/core/merkle';
import { openCheckpoint, parseVerifierKey, verifyInclusionInCheckpoint } from '@stella/core/tlog';
import { LogSequencer } from '@stella/evidence-locker';
import { harness, type Harness } from './evidence-retention-harness.js';

export const TEST_ORIGIN = 'stella.test/evidence';

export interface EntryView {
  type: string;
  bundleId: string;
  entryDigest: string;
  entry: string;
  status: 'pending' | 'integrated';
  index?: number;
  inclusionProof?: { index: number; size: number; hashes: string[] };
}
export interface EntriesBody {
  origin: string;
  size: number;
  checkpoint?: string;
  entries: EntryView[];
}
export interface LogInfo {
  origin: string;
  verifierKey: string;
  size: number;
  rootHash: string;
}

export const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
export const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const BIN = fileURLToPath(new URL('../../../cli/bin/stella.js', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** `stella …` as a real process in a network namespace without interfaces: any network use fails. */
export function stellaOffline(
  argv: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['-n', process.execPath, '--conditions=development', '--import', TSX, BIN, ...argv],
      { encoding: 'utf8', timeout: 60_000, cwd },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** Checks every proof of `body` with our verifiers against its checkpoint, opened with the pinned key. */
export function checkEntries(body: EntriesBody, info: LogInfo): void {
  const cp = openCheckpoint(body.checkpoint!, { origin: info.origin, verifiers: [parseVerifierKey(info.verifierKey)] });
  assert.equal(cp.size, body.size);
  for (const e of body.entries) {
    assert.equal(e.status, 'integrated', `${e.type} integrated`);
    const p = e.inclusionProof!;
    verifyInclusionInCheckpoint(leafHash(unb64(e.entry)), { ...p, hashes: p.hashes.map(unb64) }, cp);
  }
}

export interface LogHarness {
  h: Harness;
  /** The PostgreSQL URL (for child processes). */
  dbUrl: string;
  seq: LogSequencer;
  close(): Promise<void>;
}

/** A server on a fresh PostgreSQL database (workers off) and a sequencer the test drives. */
export async function logHarness(prefix: string): Promise<LogHarness> {
  const db = await createTestDatabase(prefix);
  const h = await harness({ STELLA_DATABASE_URL: db.url, STELLA_EVIDENCE_LOG_ORIGIN: TEST_ORIGIN });
  const seq = new LogSequencer(
    { db: h.rt.db, store: h.rt.store, signingKey: h.rt.signingKey, originPrefix: TEST_ORIGIN },
    (err) => {
      throw err;
    },
  );
  return {
    h,
    dbUrl: db.url,
    seq,
    async close() {
      await seq.close();
      await h.close();
      await db.drop();
    },
  };
}
