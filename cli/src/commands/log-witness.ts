/**
 * `stella log witness` — a small C2SP tlog-cosignature witness (issue 12 item 6;
 * docs/formats/tlog.md "Witness cosignatures"). It cosigns a log's checkpoint only after checking
 * that the checkpoint extends the last one it cosigned for that log (its state file):
 *
 * 1. log-signature: the checkpoint is signed by the pinned log key and names the pinned origin;
 * 2. rollback: its tree is not smaller than the held one (TLOG_ROLLBACK);
 * 3. consistency: a consistency proof for exactly held size → new size proves the held tree is a
 *    prefix (TLOG_CONSISTENCY_SIZE_MISMATCH for a proof of other sizes, MERKLE_PROOF_INVALID for a
 *    fork; equal sizes need equal roots).
 *
 * Only then it signs a cosignature/v1 line (timestamped, type 0x04 key) and records the new size
 * and root, atomically (temp file + rename, under a lock file), before printing the cosigned note.
 * The first checkpoint of a log is trusted on first use (every tree extends the empty one).
 * Offline: core only. Exit codes: 0 cosigned, 1 error, 2 usage, 3 a check failed (named).
 */
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StellaError, isStellaError } from '@stella/core/errors';
import {
  cosignNote,
  openCheckpoint,
  parseCosignerKey,
  parseVerifierKey,
  verifyCheckpointConsistency,
  type Checkpoint,
  type TlogConsistencyProof,
} from '@stella/core/tlog';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readInputFile } from '../system-errors.js';

/** Schema id of the state file. */
export const WITNESS_STATE_SCHEMA = 'stella.witness-state/v1';

/** What the witness remembers per log origin: the last checkpoint it cosigned. */
export interface WitnessLogState {
  size: number;
  /** base64 root hash. */
  rootHash: string;
  /** POSIX seconds of the cosignature. */
  cosignedAt: number;
  /** The checkpoint body (note text) it cosigned. */
  checkpoint: string;
}

interface WitnessState {
  schema: typeof WITNESS_STATE_SCHEMA;
  logs: Record<string, WitnessLogState>;
}

const stateInvalid = (path: string, msg: string) =>
  new StellaError('TLOG_WITNESS_STATE_INVALID', `witness state ${path}: ${msg}`, { details: { path } });

async function readState(path: string): Promise<WitnessState> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schema: WITNESS_STATE_SCHEMA, logs: {} };
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw stateInvalid(path, 'not JSON');
  }
  const s = v as Partial<WitnessState> | null;
  if (!s || s.schema !== WITNESS_STATE_SCHEMA || typeof s.logs !== 'object' || s.logs === null)
    throw stateInvalid(path, `not a ${WITNESS_STATE_SCHEMA} document`);
  for (const [origin, l] of Object.entries(s.logs)) {
    const ok =
      l &&
      Number.isSafeInteger(l.size) &&
      l.size >= 0 &&
      typeof l.rootHash === 'string' &&
      Buffer.from(l.rootHash, 'base64').length === 32 &&
      Number.isSafeInteger(l.cosignedAt) &&
      typeof l.checkpoint === 'string';
    if (!ok) throw stateInvalid(path, `the entry of ${JSON.stringify(origin)} is malformed`);
  }
  return s as WitnessState;
}

/** Writes the state atomically: a temp file beside it, fsync, rename. */
async function writeState(path: string, state: WitnessState): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** An exclusive lock file beside the state, so two witness runs cannot both advance it. */
async function withLock<T>(statePath: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${statePath}.lock`;
  let fh;
  try {
    fh = await open(lock, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new StellaError(
        'TLOG_WITNESS_STATE_INVALID',
        `${lock} exists: another witness run holds the state (remove it if none is running)`,
        { details: { lock } },
      );
    throw err;
  }
  try {
    await fh.writeFile(String(process.pid));
    return await fn();
  } finally {
    await fh.close();
    await unlink(lock).catch(() => undefined);
  }
}

/** Parses a consistency proof file: `{"oldSize","newSize","hashes":[base64 | hex]}`. */
export function parseConsistencyProofJson(raw: string): TlogConsistencyProof {
  const bad = (msg: string) => new StellaError('MERKLE_PROOF_MALFORMED', `consistency proof: ${msg}`);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw bad('not JSON');
  }
  const p = v as { oldSize?: unknown; newSize?: unknown; hashes?: unknown } | null;
  if (!p || !Number.isSafeInteger(p.oldSize) || !Number.isSafeInteger(p.newSize))
    throw bad('needs integer oldSize and newSize');
  if (!Array.isArray(p.hashes)) throw bad('needs a hashes array');
  const hashes = p.hashes.map((h, i) => {
    if (typeof h !== 'string') throw bad(`hash ${i} is not a string`);
    const b = /^[0-9a-f]{64}$/.test(h) ? Buffer.from(h, 'hex') : Buffer.from(h, 'base64');
    if (b.length !== 32 || (!/^[0-9a-f]{64}$/.test(h) && b.toString('base64') !== h))
      throw bad(`hash ${i} is not 32 bytes of hex or base64`);
    return new Uint8Array(b);
  });
  return { oldSize: p.oldSize as number, newSize: p.newSize as number, hashes };
}

type CheckName = 'log-signature' | 'rollback' | 'consistency';
const CHECK_OF: Record<string, CheckName> = {
  TLOG_NOTE_MALFORMED: 'log-signature',
  TLOG_UNKNOWN_KEY: 'log-signature',
  TLOG_BAD_SIGNATURE: 'log-signature',
  TLOG_CHECKPOINT_MALFORMED: 'log-signature',
  TLOG_ORIGIN_MISMATCH: 'log-signature',
  TLOG_ROLLBACK: 'rollback',
  TLOG_CONSISTENCY_SIZE_MISMATCH: 'consistency',
  MERKLE_PROOF_INVALID: 'consistency',
  MERKLE_PROOF_MALFORMED: 'consistency',
};

function failed(ctx: CommandContext, check: CheckName, err: StellaError): number {
  if (ctx.json) println(ctx.stdout, JSON.stringify({ ok: false, check, code: err.code, message: err.message }));
  println(ctx.stderr, `stella log witness: FAILED ${check}: ${err.code}: ${err.message}`);
  return EXIT.VERIFY_FAILED;
}

export const commands: CommandSpec[] = [
  {
    name: 'log witness',
    summary: 'Cosign a log checkpoint (C2SP tlog-cosignature) after checking it extends the last one cosigned',
    args: '<checkpoint>',
    description: [
      'Checks, in order, and exits 3 naming the first that fails:',
      '  log-signature  signed by --log-key, origin --origin (default: the log key name)',
      '  rollback       not smaller than the checkpoint last cosigned for this origin (--state)',
      '  consistency    --proof is a consistency proof for exactly <held size> → <new size>',
      'then adds a timestamped cosignature/v1 line with --key (a type 0x04 Ed25519 witness key,',
      'PRIVATE+KEY+<name>+<id>+<base64>; transparency-dev/formats and sumdb/note verify it) and',
      'records the new size and root in --state before printing the cosigned note (or --out).',
      'The first checkpoint of an origin is trusted on first use. The proof file is JSON',
      '{"oldSize":n,"newSize":m,"hashes":["<base64 or hex>",…]} (GET …/log/proof/consistency).',
      '',
      'Example:',
      '  stella log witness --log-key "$LOG_VKEY" --key witness.skey --state witness.json \\',
      '    --proof proof.json checkpoint.txt > checkpoint.cosigned.txt',
    ].join('\n'),
    options: {
      'log-key': { type: 'string', arg: '<vkey>', description: "The log's verifier key (<name>+<id>+<base64>)" },
      origin: {
        type: 'string',
        arg: '<origin>',
        description: 'Expected checkpoint origin (default: the log key name)',
      },
      key: {
        type: 'string',
        arg: '<file>',
        description: 'Witness signer key file (PRIVATE+KEY+…, type 0x04)',
        env: 'STELLA_WITNESS_KEY_FILE',
      },
      state: {
        type: 'string',
        arg: '<file>',
        description: 'State file: the last checkpoint cosigned per origin (created on first use)',
      },
      proof: { type: 'string', arg: '<file>', description: 'Consistency proof from the held size to the new size' },
      out: { type: 'string', short: 'o', arg: '<file>', description: 'Write the cosigned note here, not stdout' },
      time: { type: 'string', arg: '<seconds>', description: 'Cosignature time, POSIX seconds (default: now)' },
    },
    positionals: { min: 1, max: 1 },
    async run(ctx) {
      const logKey = parseVerifierKey(stringOpt(ctx, 'log-key', true));
      const origin = stringOpt(ctx, 'origin') ?? logKey.name;
      const keyText = (await readInputFile(resolve(ctx.cwd, stringOpt(ctx, 'key', true)))).toString('utf8');
      const witness = parseCosignerKey(keyText);
      const statePath = resolve(ctx.cwd, stringOpt(ctx, 'state', true));
      const timeText = stringOpt(ctx, 'time');
      if (timeText !== undefined && !/^(0|[1-9]\d{0,15})$/.test(timeText))
        throw new UsageError('--time must be POSIX seconds (a non-negative integer)');
      const now = timeText === undefined ? Math.floor(Date.now() / 1000) : Number(timeText);
      const noteBytes = await readInputFile(resolve(ctx.cwd, ctx.positionals[0]!));
      const proofPath = stringOpt(ctx, 'proof');
      const proofText = proofPath ? (await readInputFile(resolve(ctx.cwd, proofPath))).toString('utf8') : undefined;

      return withLock(statePath, async () => {
        const state = await readState(statePath);
        let cp;
        try {
          cp = openCheckpoint(noteBytes, { origin, verifiers: [logKey] });
        } catch (err) {
          if (isStellaError(err) && CHECK_OF[err.code]) return failed(ctx, 'log-signature', err);
          throw err;
        }
        const held = state.logs[origin];
        const heldCp: Checkpoint = held
          ? { origin, size: held.size, rootHash: new Uint8Array(Buffer.from(held.rootHash, 'base64')), extensions: [] }
          : { origin, size: 0, rootHash: new Uint8Array(32), extensions: [] };
        if (held && cp.size < held.size)
          return failed(
            ctx,
            'rollback',
            new StellaError('TLOG_ROLLBACK', `checkpoint of size ${cp.size} is older than the cosigned ${held.size}`, {
              details: { held: held.size, got: cp.size },
            }),
          );
        let proof: TlogConsistencyProof;
        if (proofText !== undefined) {
          try {
            proof = parseConsistencyProofJson(proofText);
          } catch (err) {
            if (isStellaError(err)) return failed(ctx, 'consistency', err);
            throw err;
          }
        } else if (heldCp.size === 0 || heldCp.size === cp.size) {
          proof = { oldSize: heldCp.size, newSize: cp.size, hashes: [] };
        } else {
          throw new UsageError(
            `--proof is required: the last cosigned checkpoint of ${origin} has size ${heldCp.size}, this one ${cp.size}`,
          );
        }
        try {
          verifyCheckpointConsistency(heldCp, cp, proof);
        } catch (err) {
          if (isStellaError(err) && CHECK_OF[err.code]) return failed(ctx, CHECK_OF[err.code]!, err);
          throw err;
        }
        if (held && now < held.cosignedAt)
          throw new UsageError(`--time ${now} is before the last cosignature of ${origin} (${held.cosignedAt})`);
        const cosigned = await cosignNote(noteBytes, witness, now);
        state.logs[origin] = {
          size: cp.size,
          rootHash: Buffer.from(cp.rootHash).toString('base64'),
          cosignedAt: now,
          checkpoint: cp.text,
        };
        await writeState(statePath, state);
        const out = stringOpt(ctx, 'out');
        if (out) await writeFile(resolve(ctx.cwd, out), cosigned);
        if (ctx.json)
          println(
            ctx.stdout,
            JSON.stringify({
              ok: true,
              origin,
              size: cp.size,
              previousSize: held?.size ?? null,
              witness: witness.vkey,
              timestamp: now,
              ...(out ? {} : { note: cosigned }),
            }),
          );
        else if (!out) ctx.stdout.write(cosigned);
        println(
          ctx.stderr,
          `cosigned ${origin} at size ${cp.size}${held ? ` (consistent with ${held.size})` : ' (first checkpoint: trusted on first use)'}`,
        );
        return EXIT.OK;
      });
    },
  },
  {
    name: 'log witness keygen',
    summary: 'Generate a witness key pair (type 0x04 Ed25519 cosigner key)',
    description: [
      'Writes the signer key (PRIVATE+KEY+<name>+<id>+<base64>, mode 0600, never overwritten) to -o',
      'and prints the verifier key (<name>+<id>+<base64>) that relying parties pin.',
      '',
      'Example: stella log witness keygen --name witness.example/w1 -o witness.skey',
    ].join('\n'),
    options: {
      name: { type: 'string', arg: '<name>', description: 'Witness name (a schema-less URL, C2SP)' },
      output: { type: 'string', short: 'o', arg: '<file>', description: 'Where to write the signer key' },
    },
    positionals: { max: 0 },
    async run(ctx) {
      const { randomBytes } = await import('node:crypto');
      const { generateCosignerKey } = await import('@stella/core/tlog');
      const k = generateCosignerKey(stringOpt(ctx, 'name', true), randomBytes(32));
      const path = resolve(ctx.cwd, stringOpt(ctx, 'output', true));
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(`${k.skey}\n`);
      } finally {
        await fh.close();
      }
      if (ctx.json) println(ctx.stdout, JSON.stringify({ vkey: k.vkey, skeyFile: path }));
      else println(ctx.stdout, k.vkey);
      return EXIT.OK;
    },
  },
];
