/**
 * `stella export apply-delta` and `stella export make-delta` (issue #14 item 4; ADR 0018;
 * docs/formats/trivy-db.md "Delta"), both offline. `apply-delta` reads the delta's `delta.json`
 * `kind` and dispatches (export-center deltas/apply-delta.ts): `trivy:db-delta` now, issue #15's
 * `mirror:delta` later, same command. Exit 0 when the rebuilt files match the digests the delta
 * names, 1 with the coded error otherwise (EXPORT_DELTA_BASE_MISMATCH names both digests).
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readKey } from './evidence.js';

async function runApply(ctx: CommandContext): Promise<number> {
  const base = resolve(ctx.cwd, stringOpt(ctx, 'base', true));
  const outDir = resolve(ctx.cwd, stringOpt(ctx, 'out') ?? 'rebuilt');
  const publicKeyPem = await readKey(ctx);
  const { applyDelta } = await import('@stella/server');
  const r = await applyDelta({
    delta: resolve(ctx.cwd, ctx.positionals[0]!),
    base,
    outDir,
    ...(publicKeyPem ? { publicKeyPem } : {}),
  });
  if (ctx.json) println(ctx.stdout, JSON.stringify({ ...r, outDir }));
  else {
    for (const [name, f] of Object.entries(r.files)) println(ctx.stdout, `${f.digest}  ${f.size}  ${name}`);
    println(
      ctx.stdout,
      `Applied ${r.kind} delta: ${Object.keys(r.files).length} files rebuilt in ${outDir}, each equal to the digest the delta names.`,
    );
  }
  return EXIT.OK;
}

async function runMake(ctx: CommandContext): Promise<number> {
  const raw = stringOpt(ctx, 'gzip-level') ?? '6';
  if (!/^[1-9]$/.test(raw)) throw new UsageError(`--gzip-level must be 1–9, got '${raw}'`);
  const { createTrivyDbDelta, createStagingSink } = await import('@stella/server');
  const { rename, rm, mkdir } = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  const out = resolve(ctx.cwd, ctx.positionals[0]!);
  await mkdir(dirname(out), { recursive: true });
  const sink = await createStagingSink(dirname(out));
  try {
    const m = await createTrivyDbDelta({
      base: resolve(ctx.cwd, stringOpt(ctx, 'base', true)),
      target: resolve(ctx.cwd, stringOpt(ctx, 'target', true)),
      gzipLevel: Number(raw),
      out: sink,
      dir: 'delta',
    });
    await rename(join(sink.dir, 'delta'), out).catch((e: Error) => {
      throw new UsageError(`cannot create ${out} (${e.message}); give a path that does not exist yet`);
    });
    if (ctx.json) println(ctx.stdout, JSON.stringify(m));
    else
      println(
        ctx.stdout,
        `Wrote ${m.kind} delta to ${out}: ${m.changes.operations} operations (${m.changes.size} bytes) from base ${m.base.archive.digest} to ${m.target.archive.digest}.`,
      );
    return EXIT.OK;
  } finally {
    await rm(sink.dir, { recursive: true, force: true });
  }
}

export const commands: CommandSpec[] = [
  {
    name: 'export apply-delta',
    summary: 'Rebuild full export files from a base and a delta, offline (trivy:db-delta)',
    args: '<delta dir | export.tgz>',
    description: [
      "Reads the delta's delta.json (in the directory, one directory down, or inside an export bundle,",
      'which is verified first: --key names the trusted signer), checks that --base is the file the delta',
      'was made from (else EXPORT_DELTA_BASE_MISMATCH naming both digests), applies the changes and checks',
      'every rebuilt file against the digest the delta names. Files appear in --out only when all match.',
      'Kinds: trivy:db-delta (rebuilds trivy.db, metadata.json, db.tar.gz).',
      '',
      'Example: stella export apply-delta --base db.tar.gz --out trivy-db delta/',
    ].join('\n'),
    options: {
      base: {
        type: 'string',
        arg: '<file>',
        description: 'The base the delta was made from (trivy:db: its db.tar.gz)',
      },
      out: { type: 'string', arg: '<dir>', description: 'New directory for the rebuilt files (default ./rebuilt)' },
      key: { type: 'string', arg: '<pub.pem>', description: 'Trusted export signing key, for a bundle' },
    },
    positionals: { min: 1, max: 1 },
    run: runApply,
  },
  {
    name: 'export make-delta',
    summary: 'Write a trivy:db delta from a base db.tar.gz to a target db.tar.gz, offline',
    args: '<out dir>',
    description: [
      'Diffs the two Trivy DBs and writes delta.json, changes.bin.gz and metadata.json into a new directory.',
      'The target must be a trivy:db export packed at --gzip-level (checked: the delta is proven to rebuild it).',
      '',
      'Example: stella export make-delta --base old/db.tar.gz --target new/db.tar.gz delta/',
    ].join('\n'),
    options: {
      base: { type: 'string', arg: '<db.tar.gz>', description: 'The db.tar.gz the receiver has' },
      target: { type: 'string', arg: '<db.tar.gz>', description: 'The db.tar.gz to rebuild' },
      'gzip-level': {
        type: 'string',
        arg: '<1-9>',
        description: 'gzip level of the target (trivy:db gzipLevel; default 6)',
      },
    },
    positionals: { min: 1, max: 1 },
    run: runMake,
  },
];
