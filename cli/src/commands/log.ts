/**
 * `stella log …` (issue 12 item 5): offline checks of the transparency log an auditor trusts —
 * no server, no network; only checkpoints (signed notes), proofs (JSON as the log routes serve
 * them) and the log's pinned verifier key (docs/evidence/transparency-log.md "Verifying offline").
 *
 * - `stella log verify-inclusion`: an entry is in the log at a checkpoint;
 * - `stella log verify-consistency --old --new`: the newer checkpoint extends the older one
 *   (nothing removed, reordered or rewritten), refusing a rollback.
 *
 * Every check is reported by name; exit 3 names each failed one (DESIGN.md §5). More `stella log`
 * subcommands (e.g. `witness`) live in their own modules and join {@link commands} through
 * `cli/src/commands/index.ts` — nothing here needs to change for them; {@link readCheckpointArg},
 * {@link readLogKey} and {@link reportChecks} are exported for them.
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readInputFile } from '../system-errors.js';

export interface LogCheck {
  check: string;
  status: 'pass' | 'fail';
  detail?: string;
}

const message = async (err: unknown): Promise<string> => {
  const { isStellaError } = await import('@stella/core/errors');
  return isStellaError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
};

/**
 * `--key`: the log's note verifier key (`<name>+<hex id>+<base64>`), inline or in a file. A
 * malformed key is bad input (exit 1), not a failed verification.
 */
export async function readLogKey(ctx: CommandContext, option = 'key') {
  const raw = stringOpt(ctx, option, true);
  const { parseVerifierKey } = await import('@stella/core/tlog');
  // A verifier key is `<name>+<8 hex>+<base64>`; anything else names a file holding one.
  const inline = /^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/.test(raw);
  const text = inline ? raw : (await readInputFile(resolve(ctx.cwd, raw))).toString('utf8').trim();
  return parseVerifierKey(text);
}

/** A checkpoint note file named by `option`. */
export async function readCheckpointArg(ctx: CommandContext, option: string): Promise<string> {
  return (await readInputFile(resolve(ctx.cwd, stringOpt(ctx, option, true)))).toString('utf8');
}

async function readJsonArg(ctx: CommandContext, option: string): Promise<unknown> {
  const path = resolve(ctx.cwd, stringOpt(ctx, option, true));
  const raw = (await readInputFile(path)).toString('utf8');
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    const { StellaError } = await import('@stella/core/errors');
    throw new StellaError('VALIDATION_FAILED', `--${option} ${path} is not JSON`, { details: { path }, cause: err });
  }
}

/** Prints the checks (or `--json`) and returns 0, or 3 naming every failed check. */
export function reportChecks(ctx: CommandContext, what: string, checks: LogCheck[], summary: string): number {
  const failed = checks.filter((c) => c.status === 'fail');
  if (ctx.json) println(ctx.stdout, JSON.stringify({ ok: failed.length === 0, checks }));
  else
    for (const c of checks) println(ctx.stdout, `${c.status.padEnd(4)}  ${c.check}${c.detail ? ` — ${c.detail}` : ''}`);
  if (failed.length === 0) {
    if (!ctx.json) println(ctx.stdout, `Verification: OK — ${summary}`);
    return EXIT.OK;
  }
  println(ctx.stderr, `${what}: FAILED — ${failed.length} check(s) failed:`);
  for (const c of failed) println(ctx.stderr, `  ${c.check}${c.detail ? `: ${c.detail}` : ''}`);
  return EXIT.VERIFY_FAILED;
}

const B64_HASH = /^[A-Za-z0-9+/]{43}=$/;
function hashesOf(v: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(v) || !v.every((h) => typeof h === 'string' && B64_HASH.test(h)))
    throw new UsageError(`${what}: hashes must be an array of base64 SHA-256 hashes`);
  return v.map((h: string) => new Uint8Array(Buffer.from(h, 'base64')));
}

/** `{index, size, hashes}` entries of an inclusion proof file (bare, or a /proof/inclusion answer). */
function inclusionEntries(
  v: unknown,
): { type?: string; entry?: string; proof: { index: number; size: number; hashes: Uint8Array[] } }[] {
  const o = v as { entries?: unknown; index?: unknown; size?: unknown; hashes?: unknown };
  const one = (p: { index?: unknown; size?: unknown; hashes?: unknown }, what: string) => {
    if (!Number.isSafeInteger(p.index) || !Number.isSafeInteger(p.size))
      throw new UsageError(`${what}: index and size must be integers`);
    return { index: p.index as number, size: p.size as number, hashes: hashesOf(p.hashes, what) };
  };
  if (o && Array.isArray(o.entries))
    return (o.entries as { type?: string; entry?: string; inclusionProof?: Record<string, unknown> }[])
      .filter((e) => e.inclusionProof)
      .map((e, i) => ({
        ...(e.type ? { type: e.type } : {}),
        ...(e.entry ? { entry: e.entry } : {}),
        proof: one(e.inclusionProof!, `--proof entries[${i}]`),
      }));
  return [{ proof: one(o ?? {}, '--proof') }];
}

async function runVerifyInclusion(ctx: CommandContext): Promise<number> {
  const key = await readLogKey(ctx);
  const note = await readCheckpointArg(ctx, 'checkpoint');
  const proofs = inclusionEntries(await readJsonArg(ctx, 'proof'));
  const entryPath = stringOpt(ctx, 'entry');
  const given = entryPath ? new Uint8Array(await readInputFile(resolve(ctx.cwd, entryPath))) : undefined;
  const { openCheckpoint, verifyInclusionInCheckpoint } = await import('@stella/core/tlog');
  const { leafHash } = await import('@stella/core/merkle');
  const checks: LogCheck[] = [];
  let cp;
  try {
    cp = openCheckpoint(note, { origin: key.name, verifiers: [key] });
    checks.push({ check: 'checkpoint', status: 'pass', detail: `${cp.origin}, size ${cp.size}` });
  } catch (err) {
    checks.push({ check: 'checkpoint', status: 'fail', detail: await message(err) });
  }
  if (proofs.length === 0)
    checks.push({ check: 'inclusion', status: 'fail', detail: '--proof holds no inclusion proof' });
  if (cp)
    for (const p of proofs) {
      const name = `inclusion:${p.type ? `${p.type}:` : ''}${p.proof.index}`;
      const bytes = given ?? (p.entry ? new Uint8Array(Buffer.from(p.entry, 'base64')) : undefined);
      if (!bytes) throw new UsageError('give --entry <file> (the entry bytes), or a --proof that carries them');
      try {
        verifyInclusionInCheckpoint(leafHash(bytes), p.proof, cp);
        checks.push({ check: name, status: 'pass', detail: `entry ${p.proof.index} of ${cp.size}` });
      } catch (err) {
        checks.push({ check: name, status: 'fail', detail: await message(err) });
      }
    }
  return reportChecks(
    ctx,
    'Inclusion',
    checks,
    `${proofs.length} entr${proofs.length === 1 ? 'y' : 'ies'} in the checkpoint`,
  );
}

async function runVerifyConsistency(ctx: CommandContext): Promise<number> {
  const key = await readLogKey(ctx);
  const oldNote = await readCheckpointArg(ctx, 'old');
  const newNote = await readCheckpointArg(ctx, 'new');
  const proofPath = stringOpt(ctx, 'proof');
  const raw = proofPath ? ((await readJsonArg(ctx, 'proof')) as Record<string, unknown>) : undefined;
  const { openCheckpoint, verifyCheckpointConsistency } = await import('@stella/core/tlog');
  const checks: LogCheck[] = [];
  const open = async (note: string, check: string) => {
    try {
      const cp = openCheckpoint(note, { origin: key.name, verifiers: [key] });
      checks.push({ check, status: 'pass', detail: `size ${cp.size}` });
      return cp;
    } catch (err) {
      checks.push({ check, status: 'fail', detail: await message(err) });
      return undefined;
    }
  };
  const older = await open(oldNote, 'old-checkpoint');
  const newer = await open(newNote, 'new-checkpoint');
  if (older && newer) {
    try {
      if (!raw && older.size !== newer.size && newer.size >= older.size)
        throw new UsageError(
          `the checkpoints are of sizes ${older.size} and ${newer.size}: give --proof (GET /evidence/log/proof/consistency?from=${older.size}&to=${newer.size})`,
        );
      const proof = raw
        ? {
            oldSize: Number(raw.oldSize),
            newSize: Number(raw.newSize),
            hashes: hashesOf(raw.hashes, '--proof'),
          }
        : { oldSize: older.size, newSize: newer.size, hashes: [] };
      verifyCheckpointConsistency(older, newer, proof);
      checks.push({ check: 'consistency', status: 'pass', detail: `${older.size} → ${newer.size}` });
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const m = await message(err);
      // Name the failed check by what failed: a rollback and a proof for other sizes are their own.
      const check = /^TLOG_ROLLBACK/.test(m)
        ? 'rollback'
        : /^TLOG_CONSISTENCY_SIZE_MISMATCH/.test(m)
          ? 'proof-sizes'
          : 'consistency';
      checks.push({ check, status: 'fail', detail: m });
    }
  }
  return reportChecks(
    ctx,
    'Consistency',
    checks,
    older && newer ? `checkpoint ${newer.size} extends checkpoint ${older.size}` : '',
  );
}

const keyOption = {
  type: 'string',
  arg: '<vkey|file>',
  description: "The log's note verifier key (<name>+<hex id>+<base64>, from GET /evidence/log), or a file holding it",
} as const;

export const commands: CommandSpec[] = [
  {
    name: 'log verify-inclusion',
    summary: 'Verify offline that log entries are in a signed checkpoint (exit 3 names the failed check)',
    description: [
      'Opens the checkpoint (c2sp.org/tlog-checkpoint signed note) with --key, then checks each RFC 9162',
      'inclusion proof of --proof: a bare {index, size, hashes} (with --entry <entry bytes>) or the answer of',
      'GET /evidence/log/proof/inclusion?bundleId=… (its entries carry their bytes). Hashes are base64.',
      '',
      'Example: stella log verify-inclusion --key log.vkey --checkpoint held.note --proof proof.json',
    ].join('\n'),
    options: {
      key: keyOption,
      checkpoint: { type: 'string', arg: '<note>', description: 'The checkpoint the proof is against' },
      proof: { type: 'string', arg: '<json>', description: 'Inclusion proof file (see above)' },
      entry: { type: 'string', arg: '<file>', description: 'The entry bytes, for a bare proof' },
    },
    positionals: { max: 0 },
    run: runVerifyInclusion,
  },
  {
    name: 'log verify-consistency',
    summary: 'Verify offline that a newer checkpoint extends an older one (no rollback, nothing removed)',
    description: [
      'Opens both checkpoints with --key and checks the RFC 9162 consistency proof between their sizes',
      '(--proof: the answer of GET /evidence/log/proof/consistency?from=<old size>&to=<new size>). A --new',
      'smaller than --old is a rollback (check "rollback"); a proof for other sizes fails "proof-sizes";',
      'equal sizes need equal roots and no proof.',
      '',
      'Example: stella log verify-consistency --key log.vkey --old held.note --new latest.note --proof c.json',
    ].join('\n'),
    options: {
      key: keyOption,
      old: { type: 'string', arg: '<note>', description: 'The checkpoint held (trusted) so far' },
      new: { type: 'string', arg: '<note>', description: 'The newer checkpoint' },
      proof: { type: 'string', arg: '<json>', description: 'Consistency proof file' },
    },
    positionals: { max: 0 },
    run: runVerifyConsistency,
  },
];
