/**
 * `stella evidence …` (issue #8 item 9): `verify` checks a bundle.tgz fully offline with the
 * Evidence Locker's own verifier (docs/formats/evidence-bundle.md "Verification"); the other
 * subcommands drive the evidence routes through the SDK. Blobs and bundles are streamed, never
 * read whole, and a download is written to a temporary file renamed into place only once its
 * digest matched the server's ETag, so nothing half-written is left behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EvidenceApi, type SnapshotBody } from '@stella/sdk';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readInputFile, streamInputFile } from '../system-errors.js';
import { ONLINE_OPTIONS, clientFrom, runOnline } from './online-options.js';
import { progressBar } from '../progress-bar.js';

const KINDS = ['evaluation', 'job', 'export'] as const;
const ROLES = ['input', 'output', 'env', 'log', 'metadata'] as const;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

function listOpt(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' && v ? [v] : [];
}

/** Opens `path` and checks the gzip magic (RFC 1952 §2.3.1): a missing or foreign file is exit 1, not 3. */
export async function checkGzip(path: string): Promise<void> {
  const { StellaError } = await import('@stella/core/errors');
  const head = Buffer.alloc(2);
  let read = 0;
  try {
    const fh = await open(path, 'r');
    try {
      read = (await fh.read(head, 0, 2, 0)).bytesRead;
    } finally {
      await fh.close();
    }
  } catch (err) {
    // A read on a directory fails without a path; explainError needs it to name the file.
    if (err && typeof err === 'object' && !('path' in err)) Object.assign(err, { path });
    throw err;
  }
  if (read < 2 || !head.equals(GZIP_MAGIC))
    throw new StellaError('ARCHIVE_MALFORMED', `${path} is not a gzip file; give the bundle.tgz`, {
      details: { path },
    });
}

/** Reads `--key`: it must be a public key, else it is bad input (exit 1), not a failed signature. */
export async function readKey(ctx: CommandContext): Promise<string | undefined> {
  const key = stringOpt(ctx, 'key');
  if (!key) return undefined;
  const path = resolve(ctx.cwd, key);
  const pem = (await readInputFile(path)).toString('utf8');
  const { parsePublicKey } = await import('@stella/core/signing');
  const { StellaError } = await import('@stella/core/errors');
  try {
    parsePublicKey(pem);
  } catch (err) {
    throw new StellaError('VALIDATION_FAILED', `--key ${path} is not a public key (SPKI PEM); give the seal's key`, {
      details: { path },
      cause: err,
    });
  }
  return pem;
}

/** Reads `--tsa-ca`: each must hold X.509 certificates, else it is bad input (exit 1). */
async function readTsaCas(ctx: CommandContext): Promise<string[]> {
  const { parseCertificates } = await import('@stella/core/rfc3161');
  const { StellaError } = await import('@stella/core/errors');
  return Promise.all(
    listOpt(ctx, 'tsa-ca').map(async (p) => {
      const path = resolve(ctx.cwd, p);
      const pem = (await readInputFile(path)).toString('utf8');
      try {
        parseCertificates(pem);
      } catch (err) {
        throw new StellaError(
          'VALIDATION_FAILED',
          `--tsa-ca ${path} is not an X.509 certificate (PEM); give the TSA's CA certificate`,
          { details: { path }, cause: err },
        );
      }
      return pem;
    }),
  );
}

/**
 * `--checkpoint`, `--log-key`, `--log-proof`: the transparency-log check that the bundle is in the
 * log the auditor trusts (docs/evidence/transparency-log.md "Verifying offline").
 */
async function readLogOptions(
  ctx: CommandContext,
): Promise<{ trustedCheckpoint?: string; logKey?: string; logProof?: unknown }> {
  const checkpoint = stringOpt(ctx, 'checkpoint');
  const keyArg = stringOpt(ctx, 'log-key');
  const proofArg = stringOpt(ctx, 'log-proof');
  if (checkpoint && !keyArg) throw new UsageError('--checkpoint needs --log-key (the log key you trust)');
  if (proofArg && !checkpoint) throw new UsageError('--log-proof needs --checkpoint');
  const { readLogKey } = await import('./log.js');
  const out: { trustedCheckpoint?: string; logKey?: string; logProof?: unknown } = {};
  if (keyArg) out.logKey = (await readLogKey(ctx, 'log-key')).vkey;
  if (checkpoint) out.trustedCheckpoint = (await readInputFile(resolve(ctx.cwd, checkpoint))).toString('utf8');
  if (proofArg) {
    const raw = (await readInputFile(resolve(ctx.cwd, proofArg))).toString('utf8');
    try {
      out.logProof = JSON.parse(raw) as unknown;
    } catch (err) {
      const { StellaError } = await import('@stella/core/errors');
      throw new StellaError('VALIDATION_FAILED', `--log-proof ${proofArg} is not JSON`, { cause: err });
    }
  }
  return out;
}

async function runVerify(ctx: CommandContext): Promise<number> {
  const path = resolve(ctx.cwd, ctx.positionals[0]!);
  const publicKeyPem = await readKey(ctx);
  const tsaCaPem = await readTsaCas(ctx);
  await checkGzip(path);
  const log = await readLogOptions(ctx);
  const { verifyBundle } = await import('@stella/server');
  const report = await verifyBundle(createReadStream(path), {
    ...(publicKeyPem ? { publicKeyPem } : {}),
    ...(tsaCaPem.length ? { tsaCaPem } : {}),
    ...log,
  });
  const failed = report.checks.filter((c) => c.status === 'fail');
  if (ctx.json) println(ctx.stdout, JSON.stringify(report));
  else {
    for (const c of report.checks)
      println(ctx.stdout, `${c.status.padEnd(4)}  ${c.check}${c.detail ? ` — ${c.detail}` : ''}`);
    if (report.withheld?.length)
      println(
        ctx.stdout,
        `Withheld (entry verified, content not in this portable bundle): ${report.withheld.join(', ')}`,
      );
    if (report.ok) {
      println(
        ctx.stdout,
        `Verification: OK — ${report.format === 'portable' ? 'portable ' : ''}bundle ${report.bundleId ?? '?'}, root ${report.rootHash ?? '?'} (${report.checks.length} checks)`,
      );
      // Anyone can re-seal a bundle with their own key and put that key in keys/: without a trusted
      // key this proves the bundle is intact, not who sealed it. Say so where the verdict is read.
      if (!publicKeyPem)
        println(
          ctx.stdout,
          'Signer NOT CHECKED: the seal was verified with the key inside the bundle (integrity only); pass --key <trusted seal key> to check who sealed it.',
        );
    }
  }
  if (report.ok) return EXIT.OK;
  const named = failed.length ? failed : [{ check: 'signature', detail: 'no signature check passed' }];
  println(ctx.stderr, `Verification: FAILED — ${named.length} check(s) failed:`);
  for (const c of named) println(ctx.stderr, `  ${c.check}${c.detail ? `: ${c.detail}` : ''}`);
  return EXIT.VERIFY_FAILED;
}

/** The evidence API of the online options' tenant. */
function evidenceFrom(ctx: CommandContext): EvidenceApi {
  return new EvidenceApi(clientFrom(ctx), ctx.values.tenant as string);
}

/** An online `stella evidence <name>` subcommand over the tenant's EvidenceApi. */
function online(name: string, fn: (ctx: CommandContext, api: EvidenceApi) => Promise<void>) {
  return (ctx: CommandContext): Promise<number> => runOnline(ctx, `evidence ${name}`, () => fn(ctx, evidenceFrom(ctx)));
}

const getCmd = online('get', async (ctx, api) => {
  const b = await api.get(ctx.positionals[0]!);
  if (ctx.json) return println(ctx.stdout, JSON.stringify(b));
  println(ctx.stdout, `bundle:   ${b.bundleId} (${b.kind}, ${b.createdAt})`);
  if (b.subject) println(ctx.stdout, `subject:  ${b.subject.name ?? ''} ${b.subject.digest}`.replace('  ', ' '));
  println(ctx.stdout, `root:     ${b.rootHash} (${b.leafCount} leaves)`);
  println(ctx.stdout, `manifest: ${b.manifestDigest}`);
  println(ctx.stdout, `archive:  ${b.archive.digest} (${b.archive.size} bytes)`);
  println(ctx.stdout, `key:      ${b.keyId}`);
  if (b.timestamp) println(ctx.stdout, `time:     ${b.timestamp.genTime} (${b.timestamp.tsa})`);
  for (const a of b.artifacts) println(ctx.stdout, `  ${a.role.padEnd(8)} ${a.digest}  ${a.size}  ${a.path}`);
});

const listCmd = online('list', async (ctx, api) => {
  const kind = stringOpt(ctx, 'kind');
  if (kind && !(KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${KINDS}`);
  const limitText = stringOpt(ctx, 'limit');
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 200))
    throw new UsageError('--limit must be an integer from 1 to 200');
  const digest = stringOpt(ctx, 'digest');
  const cursor = stringOpt(ctx, 'cursor');
  const page = await api.list({
    ...(kind ? { kind: kind as (typeof KINDS)[number] } : {}),
    ...(digest ? { digest } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(cursor ? { cursor } : {}),
  });
  if (ctx.json) return println(ctx.stdout, JSON.stringify(page));
  for (const b of page.items)
    println(ctx.stdout, `${b.bundleId}  ${b.kind.padEnd(10)} ${b.createdAt}  ${b.leafCount} artifacts  ${b.rootHash}`);
  if (page.nextCursor) println(ctx.stdout, `more: --cursor ${page.nextCursor}`);
});

const downloadCmd = online('download', async (ctx, api) => {
  const id = ctx.positionals[0]!;
  const out = resolve(ctx.cwd, stringOpt(ctx, 'output') ?? `bundle-${id}.tgz`);
  const { body, etag } = await api.download(id);
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await pipeline(Readable.fromWeb(body as never), tee, createWriteStream(tmp, { flags: 'wx' }));
    const digest = `sha256:${hash.digest('hex')}`;
    if (etag && etag !== `"${digest}"`) {
      const { StellaError } = await import('@stella/core/errors');
      throw new StellaError('OBJECT_DIGEST_MISMATCH', `downloaded ${digest}, the server's ETag says ${etag}`, {
        details: { bundleId: id },
      });
    }
    await rename(tmp, out);
    if (ctx.json) println(ctx.stdout, JSON.stringify({ bundleId: id, output: out, digest }));
    else println(ctx.stdout, `Wrote ${out} (${digest})`);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
});

/**
 * `--filter kind=job,subject=sha256:…`: the hold route's filter (every bundle of that kind and/or
 * subject digest, at the time of the hold). Unknown keys and malformed values are usage errors.
 */
function parseHoldFilter(text: string): { kind?: (typeof KINDS)[number]; subjectDigest?: string } {
  const filter: { kind?: (typeof KINDS)[number]; subjectDigest?: string } = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 0 || !value) throw new UsageError(`--filter: expected key=value pairs, got ${JSON.stringify(part)}`);
    if (key === 'kind') {
      if (!(KINDS as readonly string[]).includes(value)) throw new UsageError(`--filter kind must be one of ${KINDS}`);
      filter.kind = value as (typeof KINDS)[number];
    } else if (key === 'subject') {
      if (!/^sha256:[0-9a-f]{64}$/.test(value))
        throw new UsageError('--filter subject must be a sha256:<64 hex> digest');
      filter.subjectDigest = value;
    } else throw new UsageError(`--filter: unknown key ${JSON.stringify(key)} (kind, subject)`);
  }
  return filter;
}

const portableCmd = online('portable', async (ctx, api) => {
  const id = ctx.positionals[0]!;
  const out = resolve(ctx.cwd, stringOpt(ctx, 'output') ?? 'portable-bundle-v1.tgz');
  const withhold = listOpt(ctx, 'withhold');
  const keepMetadata = listOpt(ctx, 'keep-metadata');
  const { body } = await api.portable(id, { withhold, keepMetadata });
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  // Written beside the target and renamed into place only when complete: nothing half-written.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await pipeline(Readable.fromWeb(body as never), tee, createWriteStream(tmp, { flags: 'wx' }));
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (ctx.json) println(ctx.stdout, JSON.stringify({ bundleId: id, output: out, digest, withheld: withhold }));
  else {
    println(ctx.stdout, `Wrote ${out} (${digest})`);
    if (withhold.length) println(ctx.stdout, `Withheld: ${withhold.join(', ')}`);
  }
});

const holdCmd = online('hold', async (ctx, api) => {
  const bundleIds = listOpt(ctx, 'bundle');
  const filterText = stringOpt(ctx, 'filter');
  if (bundleIds.length === 0 && !filterText) throw new UsageError('give --bundle <id> (repeatable) and/or --filter');
  const reason = stringOpt(ctx, 'reason', true);
  const endsAt = stringOpt(ctx, 'ends-at');
  if (endsAt !== undefined && Number.isNaN(Date.parse(endsAt)))
    throw new UsageError('--ends-at must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z');
  const h = await api.hold(ctx.positionals[0]!, {
    reason,
    ...(bundleIds.length ? { bundleIds } : {}),
    ...(filterText ? { filter: parseHoldFilter(filterText) } : {}),
    ...(endsAt ? { endsAt: new Date(endsAt).toISOString() } : {}),
  });
  if (ctx.json) return println(ctx.stdout, JSON.stringify(h));
  println(
    ctx.stdout,
    `hold ${h.caseId}: active${h.endsAt ? ` until ${h.endsAt}` : ''}, ${h.bundleIds.length} bundle(s): ${h.bundleIds.join(' ')}`,
  );
});

const releaseCmd = online('release', async (ctx, api) => {
  const h = await api.release(ctx.positionals[0]!, stringOpt(ctx, 'reason', true));
  if (ctx.json) return println(ctx.stdout, JSON.stringify(h));
  println(ctx.stdout, `hold ${h.caseId}: released at ${h.releasedAt ?? '?'} by ${h.releasedBy ?? '?'}`);
});

function incidentCmd(active: boolean) {
  return online(`incident ${active ? 'on' : 'off'}`, async (ctx, api) => {
    const st = await api.setIncident(active, stringOpt(ctx, 'reason', true));
    if (ctx.json) return println(ctx.stdout, JSON.stringify(st));
    printIncident(ctx, st);
  });
}

function printIncident(ctx: CommandContext, st: Awaited<ReturnType<EvidenceApi['incidentStatus']>>): void {
  println(ctx.stdout, `incident mode: ${st.active ? 'ACTIVE' : 'off'} (retention extension ${st.retentionExtension})`);
  const i = st.incident;
  if (!i) return;
  println(ctx.stdout, `  ${st.active ? 'since' : 'last'}: ${i.activatedAt} by ${i.activatedBy} — ${i.reason}`);
  if (i.deactivatedAt)
    println(ctx.stdout, `  ended: ${i.deactivatedAt} by ${i.deactivatedBy ?? '?'} — ${i.deactivateReason ?? ''}`);
}

const incidentStatusCmd = online('incident status', async (ctx, api) => {
  const st = await api.incidentStatus();
  if (ctx.json) return println(ctx.stdout, JSON.stringify(st));
  printIncident(ctx, st);
});

function printPolicy(ctx: CommandContext, p: Awaited<ReturnType<EvidenceApi['retention']>>): void {
  if (p.version === 0) return println(ctx.stdout, 'retention: no policy (bundles are kept forever)');
  println(ctx.stdout, `retention policy v${p.version} (${p.updatedAt ?? '?'} by ${p.updatedBy ?? '?'})`);
  println(ctx.stdout, `  default: ${p.default ?? 'forever'}`);
  for (const [k, v] of Object.entries(p.kinds)) println(ctx.stdout, `  ${k}: ${v}`);
}

const retentionGetCmd = online('retention get', async (ctx, api) => {
  const p = await api.retention();
  if (ctx.json) return println(ctx.stdout, JSON.stringify(p));
  printPolicy(ctx, p);
});

/** `--kind job=P90D` (repeatable) and `--default P365D|forever`. */
const retentionSetCmd = online('retention set', async (ctx, api) => {
  const def = stringOpt(ctx, 'default', true);
  const kinds: Record<string, string> = {};
  for (const pair of listOpt(ctx, 'kind')) {
    const [k, v, extra] = pair.split('=');
    if (!k || !v || extra !== undefined || !(KINDS as readonly string[]).includes(k))
      throw new UsageError(`--kind expects <kind>=<duration> with kind one of ${KINDS}, got ${JSON.stringify(pair)}`);
    kinds[k] = v;
  }
  const p = await api.setRetention({ default: def === 'forever' ? null : def, kinds });
  if (ctx.json) return println(ctx.stdout, JSON.stringify(p));
  printPolicy(ctx, p);
});

async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  await streamInputFile(path, h);
  return `sha256:${h.digest('hex')}`;
}

/**
 * The files a snapshot argument names: a file by its base name, a directory by every regular file
 * under it (recursively, sorted), each named by its POSIX path relative to that directory.
 */
async function snapshotFiles(path: string): Promise<{ path: string; name: string }[]> {
  const st = await stat(path).catch((err: Error) => {
    throw new UsageError(`cannot read ${path}: ${err.message}`);
  });
  if (!st.isDirectory()) return [{ path, name: basename(path) }];
  const out: { path: string; name: string }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push({ path: full, name: relative(path, full).split(sep).join('/') });
    }
  };
  await walk(path);
  if (out.length === 0) throw new UsageError(`${path}: the directory holds no files`);
  return out;
}

const snapshotCmd = online('snapshot', async (ctx, api) => {
  const kind = stringOpt(ctx, 'kind', true);
  if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${KINDS}`);
  const role = stringOpt(ctx, 'role') ?? 'input';
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES}`);
  const mediaType = stringOpt(ctx, 'media-type') ?? 'application/octet-stream';
  const files: { path: string; name: string }[] = [];
  for (const arg of ctx.positionals) files.push(...(await snapshotFiles(resolve(ctx.cwd, arg))));
  const bar = progressBar(
    ctx.stderr,
    !ctx.json && (ctx.stderr as Writable & { isTTY?: boolean }).isTTY === true,
    files.length,
  );
  const artifacts: SnapshotBody['artifacts'] = [];
  try {
    for (const [i, file] of files.entries()) {
      bar.update(i, file.name);
      // Hash first (streamed), then stream the bytes up: the server checks them against this digest.
      const digest = await sha256OfFile(file.path);
      const { size } = await stat(file.path);
      await api.uploadBlob(digest, Readable.toWeb(createReadStream(file.path)) as ReadableStream<Uint8Array>, size);
      artifacts.push({ path: file.name, role: role as (typeof ROLES)[number], mediaType, digest });
    }
  } finally {
    bar.clear();
  }
  const r = await api.snapshot({ kind: kind as (typeof KINDS)[number], artifacts });
  if (ctx.json) return println(ctx.stdout, JSON.stringify(r));
  println(ctx.stdout, `bundle: ${r.bundleId}`);
  println(ctx.stdout, `root:   ${r.rootHash}`);
});

export const commands: CommandSpec[] = [
  {
    name: 'evidence verify',
    summary: 'Verify an evidence bundle.tgz or portable-bundle-v1.tgz offline (no server, no network)',
    args: '<bundle.tgz>',
    description: [
      'Runs every check of docs/formats/evidence-bundle.md "Verification": checksums, artifacts, Merkle root,',
      'DSSE seal and statement, Sigstore bundle, RFC 3161 timestamp, and the transparency-log proof under log/',
      '(seal entry rebuilt from manifest.json, inclusion in log/checkpoint.txt). One line per check, then a summary.',
      'Without --key the key inside the bundle is used (integrity, not identity). Exit 3 names each failed check.',
      'With --checkpoint <note> --log-key <vkey>: the bundle must be in the log you trust (check log:trusted);',
      "a checkpoint newer or older than the bundle's needs --log-proof.",
      '',
      'Example: stella evidence verify --key seal.pub.pem bundle.tgz',
      '         stella evidence verify --checkpoint held.note --log-key log.vkey --log-proof c.json bundle.tgz',
    ].join('\n'),
    options: {
      key: { type: 'string', arg: '<pub.pem>', description: 'Trusted seal public key (SPKI PEM)' },
      checkpoint: {
        type: 'string',
        arg: '<note>',
        description: 'A log checkpoint you trust: check the bundle is in that log (needs --log-key)',
      },
      'log-key': {
        type: 'string',
        arg: '<vkey|file>',
        description:
          "The evidence log's note verifier key you trust (GET /evidence/log); checks log/checkpoint.txt too",
      },
      'log-proof': {
        type: 'string',
        arg: '<json>',
        description:
          'Ties the bundle to --checkpoint: /evidence/log/proof/consistency?from=<bundle size>&to=<yours> or /proof/inclusion?bundleId=…&size=<yours>',
      },
      'tsa-ca': {
        type: 'string',
        arg: '<ca.pem>',
        multiple: true,
        description: 'Trusted TSA CA certificate(s), PEM (repeatable); without them the timestamp is skipped',
      },
    },
    positionals: { min: 1, max: 1 },
    run: runVerify,
  },
  {
    name: 'evidence get',
    summary: 'Show one evidence bundle: seal, archive digest and artifacts (online)',
    args: '<id>',
    options: ONLINE_OPTIONS,
    positionals: { min: 1, max: 1 },
    run: getCmd,
  },
  {
    name: 'evidence list',
    summary: 'List evidence bundles, newest first (online)',
    options: {
      ...ONLINE_OPTIONS,
      kind: { type: 'string', arg: '<kind>', description: 'evaluation, job or export' },
      digest: { type: 'string', arg: '<sha256:…>', description: 'Subject, artifact, manifest or archive digest' },
      limit: { type: 'string', arg: '<n>', description: 'Page size, 1–200 (server default 50)' },
      cursor: { type: 'string', arg: '<id>', description: 'Continue after this bundle (the printed cursor)' },
    },
    positionals: { max: 0 },
    run: listCmd,
  },
  {
    name: 'evidence download',
    summary: 'Download a bundle.tgz (streamed; checked against its ETag digest) (online)',
    args: '<id>',
    options: {
      ...ONLINE_OPTIONS,
      output: {
        type: 'string',
        short: 'o',
        arg: '<bundle.tgz>',
        description: 'Where to write (default bundle-<id>.tgz)',
      },
    },
    positionals: { min: 1, max: 1 },
    run: downloadCmd,
  },
  {
    name: 'evidence portable',
    summary: 'Export a redacted portable-bundle-v1.tgz for an air-gapped host (online)',
    args: '<id>',
    description: [
      "No tenant id or internal names; --withhold leaves an artifact's content out (its entry still verifies).",
      'On the air-gapped host: tar -xzf portable-bundle-v1.tgz && sh verify-offline.sh --key seal.pub.pem',
      '(or stella evidence verify). docs/airgap/evidence.md.',
      '',
      'Example: stella evidence portable 01J… --withhold outputs/verdict.json -o portable-bundle-v1.tgz',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      withhold: {
        type: 'string',
        arg: '<path>',
        multiple: true,
        description: 'Artifact path to withhold (repeatable)',
      },
      'keep-metadata': {
        type: 'string',
        arg: '<member>',
        multiple: true,
        description: 'Top-level metadata member to keep (repeatable; others are redacted)',
      },
      output: {
        type: 'string',
        short: 'o',
        arg: '<file.tgz>',
        description: 'Where to write (default portable-bundle-v1.tgz)',
      },
    },
    positionals: { min: 1, max: 1 },
    run: portableCmd,
  },
  {
    name: 'evidence hold',
    summary: 'Place a legal hold on bundles, or add bundles to an active hold (online)',
    args: '<caseId>',
    description: [
      'Bundles by id (--bundle, repeatable) and/or by filter (--filter kind=job,subject=sha256:…).',
      '',
      'Example: stella evidence hold case-7 --filter kind=evaluation --reason "subpoena 2026-17"',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      reason: { type: 'string', arg: '<text>', description: 'Why (recorded in the custody log)' },
      bundle: { type: 'string', arg: '<id>', multiple: true, description: 'Bundle to hold (repeatable)' },
      filter: {
        type: 'string',
        arg: 'kind=…,subject=…',
        description: 'Also hold every bundle of this kind and/or subject digest (sha256:…)',
      },
      'ends-at': { type: 'string', arg: '<date-time>', description: 'The hold ends (stops protecting) then' },
    },
    positionals: { min: 1, max: 1 },
    run: holdCmd,
  },
  {
    name: 'evidence release',
    summary: 'Release a legal hold (online)',
    args: '<caseId>',
    options: { ...ONLINE_OPTIONS, reason: { type: 'string', arg: '<text>', description: 'Why (required)' } },
    positionals: { min: 1, max: 1 },
    run: releaseCmd,
  },
  {
    name: 'evidence snapshot',
    summary: 'Upload files (streamed) and seal them into an evidence bundle (online)',
    args: '<file|dir>…',
    description: [
      'Each file is hashed, uploaded to PUT /evidence/blobs/{digest} and named in the bundle by its base name;',
      'a directory adds every file under it, named by its path relative to that directory.',
      'A progress bar is drawn on stderr when it is a terminal.',
      '',
      'Example: stella evidence snapshot --kind evaluation --media-type application/json sbom.json',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      kind: { type: 'string', arg: '<kind>', description: 'evaluation, job or export' },
      role: { type: 'string', arg: '<role>', description: 'input, output, env, log or metadata', default: 'input' },
      'media-type': {
        type: 'string',
        arg: '<type>',
        description: 'Media type of the files',
        default: 'application/octet-stream',
      },
    },
    positionals: { min: 1 },
    run: snapshotCmd,
  },
  {
    name: 'evidence incident on',
    summary: 'Activate incident mode for the tenant: longer retention, debug artefacts in snapshots (online)',
    description: 'Needs the ops:incident scope. Example: stella evidence incident on --reason "INC-42 token leak"',
    options: { ...ONLINE_OPTIONS, reason: { type: 'string', arg: '<text>', description: 'Why (required)' } },
    positionals: { max: 0 },
    run: incidentCmd(true),
  },
  {
    name: 'evidence incident off',
    summary: 'Deactivate incident mode for the tenant (online)',
    options: { ...ONLINE_OPTIONS, reason: { type: 'string', arg: '<text>', description: 'Why (required)' } },
    positionals: { max: 0 },
    run: incidentCmd(false),
  },
  {
    name: 'evidence incident status',
    summary: "Show the tenant's incident mode status (online)",
    options: ONLINE_OPTIONS,
    positionals: { max: 0 },
    run: incidentStatusCmd,
  },
  {
    name: 'evidence retention get',
    summary: "Show the tenant's evidence retention policy (online)",
    options: ONLINE_OPTIONS,
    positionals: { max: 0 },
    run: retentionGetCmd,
  },
  {
    name: 'evidence retention set',
    summary: "Replace the tenant's evidence retention policy (online)",
    description: [
      'Durations are ISO 8601 days/hours/minutes/seconds (P365D, PT12H); --default forever keeps bundles',
      'without a kind rule forever. Held bundles are never purged.',
      '',
      'Example: stella evidence retention set --default P365D --kind job=P90D',
    ].join('\n'),
    options: {
      ...ONLINE_OPTIONS,
      default: { type: 'string', arg: '<duration|forever>', description: 'Kept this long after sealing' },
      kind: { type: 'string', arg: '<kind>=<duration>', multiple: true, description: 'Per-kind duration (repeatable)' },
    },
    positionals: { max: 0 },
    run: retentionSetCmd,
  },
];
