/**
 * `stella timestamp request|verify` — RFC 3161 time-stamps for any file (issue #3 item 10).
 * Files are streamed through the hash, never read whole; `.tsr` files hold the full DER
 * TimeStampResp (what `openssl ts -verify -in x.tsr` expects without `-token_in`).
 */
import { createHash } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readInputFile, streamInputFile } from '../system-errors.js';

type Hash = 'sha256' | 'sha384' | 'sha512';
const HASHES: readonly Hash[] = ['sha256', 'sha384', 'sha512'];

async function hashFile(path: string, algorithm: string): Promise<Uint8Array> {
  const h = createHash(algorithm);
  await streamInputFile(path, h);
  return new Uint8Array(h.digest());
}

/**
 * Reads `--ca`/`--untrusted` certificate files and checks that each holds an X.509 certificate:
 * a wrong file there is bad input (exit 1), not a time-stamp that failed to verify (exit 3).
 */
async function readCertificateFiles(ctx: CommandContext, option: string): Promise<Buffer[]> {
  const { parseCertificates } = await import('@stella/core/rfc3161');
  const { StellaError, isStellaError } = await import('@stella/core/errors');
  return Promise.all(
    listOpt(ctx, option).map(async (p) => {
      const path = resolve(ctx.cwd, p);
      const bytes = await readInputFile(path);
      try {
        parseCertificates(bytes);
      } catch (err) {
        if (!isStellaError(err)) throw err;
        throw new StellaError(
          'VALIDATION_FAILED',
          `--${option} ${path} is not an X.509 certificate (PEM "BEGIN CERTIFICATE" or DER); give the TSA's CA certificate`,
          { details: { path }, cause: err },
        );
      }
      return bytes;
    }),
  );
}

function listOpt(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' && v ? [v] : [];
}

const hex = (u8: Uint8Array) => Buffer.from(u8).toString('hex');

async function runRequest(ctx: CommandContext): Promise<number> {
  const url = stringOpt(ctx, 'tsa', true);
  const hash = (stringOpt(ctx, 'hash') ?? 'sha256') as Hash;
  if (!HASHES.includes(hash)) throw new UsageError(`--hash must be one of ${HASHES.join(', ')}`);
  const timeout = stringOpt(ctx, 'timeout');
  const timeoutMs = timeout === undefined ? 30_000 : Number(timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new UsageError('--timeout must be a positive number of milliseconds');
  const file = resolve(ctx.cwd, ctx.positionals[0]!);
  const out = resolve(ctx.cwd, stringOpt(ctx, 'output') ?? `${ctx.positionals[0]!}.tsr`);

  const { requestTimestamp } = await import('@stella/platform/timestamp');
  const digest = await hashFile(file, hash);
  const policy = stringOpt(ctx, 'policy');
  const result = await requestTimestamp(url, digest, {
    hashAlgorithm: hash,
    certReq: ctx.values['no-cert-req'] !== true,
    timeoutMs,
    signal: ctx.signal,
    ...(policy ? { policy } : {}),
  });
  // Write atomically: a half-written .tsr must never be mistaken for a token.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, result.response, { flag: 'wx' });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const info = result.token.info;
  if (ctx.json) {
    println(
      ctx.stdout,
      JSON.stringify({
        output: out,
        genTime: info.genTime.toISOString(),
        serialNumber: info.serialNumber.toString(16),
        policy: info.policy,
        tsaName: info.tsaName ?? null,
        hashAlgorithm: hash,
        messageImprint: hex(digest),
        nonce: result.nonce.toString(16),
      }),
    );
  } else {
    println(ctx.stdout, `Wrote ${out} (TimeStampResp, ${result.response.byteLength} bytes)`);
    println(ctx.stdout, `  genTime:  ${info.genTime.toISOString()}`);
    println(ctx.stdout, `  serial:   0x${info.serialNumber.toString(16)}`);
    println(ctx.stdout, `  policy:   ${info.policy}`);
    if (info.tsaName) println(ctx.stdout, `  TSA:      ${info.tsaName}`);
    println(ctx.stdout, `  imprint:  ${hash}:${hex(digest)}`);
  }
  return EXIT.OK;
}

/** Codes that mean "this time-stamp does not prove what it should" → exit 3, not 1. */
const VERIFY_FAILURE_CODES = new Set([
  'TIMESTAMP_INVALID',
  'ASN1_MALFORMED',
  'TIMESTAMP_REQUEST_FAILED',
  'BASE64_INVALID',
]);

async function runVerify(ctx: CommandContext): Promise<number> {
  const cas = listOpt(ctx, 'ca');
  if (cas.length === 0) throw new UsageError('--ca is required (the CA certificate(s) the TSA must chain to)');
  const [fileArg, tsrArg] = ctx.positionals as [string, string];
  const file = resolve(ctx.cwd, fileArg);
  const { readTimeStampToken, verifyTimeStampToken } = await import('@stella/core/rfc3161');
  const { isStellaError } = await import('@stella/core/errors');
  const trustedCerts = await readCertificateFiles(ctx, 'ca');
  const certificates = await readCertificateFiles(ctx, 'untrusted');
  const tsr = new Uint8Array(await readInputFile(resolve(ctx.cwd, tsrArg)));
  const policy = stringOpt(ctx, 'policy');
  try {
    const token = readTimeStampToken(tsr);
    const hashName = token.info.hashName;
    const digest = hashName && hashName !== 'sha1' ? await hashFile(file, hashName) : new Uint8Array();
    const v = await verifyTimeStampToken(token, {
      digest,
      ...(hashName ? { digestAlgorithm: hashName } : {}),
      trustedCerts,
      certificates,
      ...(policy ? { policy } : {}),
    });
    if (ctx.json) {
      println(
        ctx.stdout,
        JSON.stringify({
          ok: true,
          form: token.form,
          genTime: v.genTime.toISOString(),
          serialNumber: v.serialNumber.toString(16),
          policy: v.policy,
          tsaName: v.tsaName ?? null,
          accuracy: v.accuracy ?? null,
          hashAlgorithm: v.hashAlgorithm,
          messageImprint: hex(v.messageImprint),
          nonce: v.nonce === undefined ? null : v.nonce.toString(16),
          signer: v.signer,
          chain: v.chain,
        }),
      );
    } else {
      println(ctx.stdout, `Verification: OK`);
      println(ctx.stdout, `  genTime:  ${v.genTime.toISOString()}`);
      println(ctx.stdout, `  serial:   0x${v.serialNumber.toString(16)}`);
      println(ctx.stdout, `  policy:   ${v.policy}`);
      println(ctx.stdout, `  signer:   ${v.signer.subject}`);
      println(ctx.stdout, `  chain:    ${v.chain.join(' → ')}`);
    }
    return EXIT.OK;
  } catch (err) {
    if (!isStellaError(err) || !VERIFY_FAILURE_CODES.has(err.code)) throw err;
    const check =
      (err.details as { check?: string } | undefined)?.check ?? (err.code === 'ASN1_MALFORMED' ? 'decode' : 'status');
    if (ctx.json) println(ctx.stdout, JSON.stringify({ ok: false, code: err.code, check, message: err.message }));
    println(ctx.stderr, `Verification: FAILED (${check}) — ${err.code}: ${err.message}`);
    return EXIT.VERIFY_FAILED;
  }
}

export const commands: CommandSpec[] = [
  {
    name: 'timestamp request',
    summary: 'Get an RFC 3161 time-stamp for a file from a TSA',
    args: '<file>',
    description: [
      'Hashes <file> (streamed), POSTs an application/timestamp-query with a random nonce to the TSA and',
      'writes the DER TimeStampResp (status + token) it returns. The reply must echo our nonce and imprint.',
      'The .tsr verifies with `stella timestamp verify` or `openssl ts -verify -in <file.tsr> -data <file> -CAfile ca.pem`.',
      '',
      'Example: stella timestamp request --tsa http://tsa.example:3161/ manifest.json -o manifest.tsr',
    ].join('\n'),
    options: {
      tsa: { type: 'string', arg: '<url>', description: 'TSA URL (http or https)', env: 'STELLA_TSA_URL' },
      output: {
        type: 'string',
        short: 'o',
        arg: '<file.tsr>',
        description: 'Where to write the TimeStampResp (default <file>.tsr)',
      },
      hash: { type: 'string', arg: '<alg>', description: 'Imprint hash: sha256, sha384 or sha512', default: 'sha256' },
      policy: { type: 'string', arg: '<oid>', description: 'Request this TSA policy' },
      'no-cert-req': { type: 'boolean', description: 'Do not ask the TSA to embed its certificate' },
      timeout: { type: 'string', arg: '<ms>', description: 'Give up after this many milliseconds', default: '30000' },
    },
    positionals: { min: 1, max: 1 },
    run: runRequest,
  },
  {
    name: 'timestamp verify',
    summary: 'Verify an RFC 3161 time-stamp (.tsr or bare token) over a file',
    args: '<file> <file.tsr>',
    description: [
      'Checks the message imprint, the CMS signature and signed attributes, the ESS certificate binding,',
      'the critical timeStamping EKU, and the chain to --ca at genTime. Makes no network calls.',
      'Exit 3 when verification fails; the failed check is printed (imprint, signature, chain, …).',
      '',
      'Example: stella timestamp verify --ca tsa-root.pem manifest.json manifest.tsr',
    ].join('\n'),
    options: {
      ca: {
        type: 'string',
        arg: '<ca.pem>',
        multiple: true,
        description: 'Trusted CA certificate(s), PEM or DER (repeatable)',
      },
      untrusted: {
        type: 'string',
        arg: '<pem>',
        multiple: true,
        description: 'Extra TSA/intermediate certificates when the token has none',
      },
      policy: { type: 'string', arg: '<oid>', description: 'Require this TSA policy' },
    },
    positionals: { min: 2, max: 2 },
    run: runVerify,
  },
];
