/**
 * `stella dsse sign|verify` — offline DSSE v1 signing with any signer URI (file:, pkcs11:) and
 * threshold verification with public key files (docs/formats/dsse.md, docs/keys.md).
 * Exit codes: 0 ok, 1 unreadable input or key, 2 usage, 3 verification failed (the failed check
 * is printed).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StellaError, isStellaError } from '@stella/core/errors';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { explainError, readInputFile } from '../system-errors.js';

/** Largest payload or envelope file read (DSSE carries the payload inline, so it is read whole). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const SIGSTORE_PREFIX = 'application/vnd.dev.sigstore.bundle';

/** A bare path is shorthand for a `file:` URI (relative paths resolve against the cwd). */
function toSignerUri(key: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(key) ? key : `file:${key}`;
}

function listOpt(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  if (Array.isArray(v)) return v.filter((s) => s !== '');
  return typeof v === 'string' && v !== '' ? [v] : [];
}

/** Reads an input file; failures are exit-1 errors with a coded message, not stack traces. */
async function readInput(ctx: CommandContext, file: string, what: string): Promise<Buffer> {
  const path = resolve(ctx.cwd, file);
  let s;
  try {
    s = await stat(path);
  } catch (err) {
    throw new StellaError('NOT_FOUND', `cannot read ${what}: ${explainError(err)}`, { cause: err });
  }
  if (!s.isFile())
    throw new StellaError(
      'NOT_FOUND',
      `cannot read ${what}: ${path} is ${s.isDirectory() ? 'a directory; give a file' : 'not a regular file'}`,
    );
  if (s.size > MAX_FILE_BYTES)
    throw new StellaError(
      'PAYLOAD_TOO_LARGE',
      `${what} ${file} is ${s.size} bytes, above the ${MAX_FILE_BYTES}-byte limit`,
    );
  return readInputFile(path);
}

const sign: CommandSpec = {
  name: 'dsse sign',
  summary: 'Sign a file as a DSSE v1 envelope (JSON on stdout)',
  args: '<file>',
  description: [
    'Signs PAE(payloadType, file bytes) with every --key and prints the envelope JSON.',
    'Keys are signer URIs: file:/path/key.pem (PEM or JWK private key; a bare path works too) or',
    'pkcs11:token=<label>;object=<label>?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/path/pin',
    '',
    'Examples:',
    '  stella dsse sign --key file:./dev.key.pem --payload-type application/vnd.in-toto+json statement.json > statement.dsse.json',
    '  stella dsse sign --key a.pem --key b.pem --payload-type text/plain notes.txt',
    '  stella dsse sign --key a.pem --payload-type application/vnd.in-toto+json --format sigstore-bundle st.json',
  ].join('\n'),
  options: {
    key: {
      type: 'string',
      arg: '<uri>',
      multiple: true,
      description: 'Signer URI (repeat for several signatures)',
      env: 'STELLA_SIGNING_KEY',
    },
    'payload-type': {
      type: 'string',
      arg: '<type>',
      description: 'DSSE payloadType, e.g. application/vnd.in-toto+json',
    },
    format: {
      type: 'string',
      arg: '<dsse|sigstore-bundle>',
      description: 'Output an envelope or a Sigstore bundle v0.3 (one key only)',
      default: 'dsse',
    },
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const keys = listOpt(ctx, 'key');
    if (keys.length === 0) throw new UsageError('--key is required');
    const payloadType = stringOpt(ctx, 'payload-type', true);
    const format = stringOpt(ctx, 'format') ?? 'dsse';
    if (format !== 'dsse' && format !== 'sigstore-bundle')
      throw new UsageError(`--format must be dsse or sigstore-bundle, not ${format}`);
    if (format === 'sigstore-bundle' && keys.length !== 1)
      throw new UsageError('a Sigstore bundle carries one signature: give exactly one --key');
    const payload = await readInput(ctx, ctx.positionals[0]!, 'payload');
    const [{ resolveSigner }, { signEnvelope, serializeEnvelope }] = await Promise.all([
      import('@stella/platform/keys'),
      import('@stella/core/dsse'),
    ]);
    const signers = [];
    try {
      for (const k of keys) signers.push(await resolveSigner(toSignerUri(k), { cwd: ctx.cwd }));
      const envelope = await signEnvelope(payload, payloadType, signers);
      if (format === 'sigstore-bundle') {
        const { toSigstoreBundle, serializeSigstoreBundle } = await import('@stella/core/sigstore');
        println(ctx.stdout, serializeSigstoreBundle(toSigstoreBundle(envelope)));
      } else println(ctx.stdout, serializeEnvelope(envelope));
    } finally {
      await Promise.all(signers.map((s) => s.close()));
    }
    return EXIT.OK;
  },
};

/** Which check a verification error code stands for, as printed and in --json. */
const FAILED_CHECK: Record<string, string> = {
  DSSE_MALFORMED: 'envelope-format',
  BASE64_INVALID: 'envelope-format',
  SIGSTORE_BUNDLE_INVALID: 'bundle-format',
  DSSE_PAYLOAD_TYPE_MISMATCH: 'payload-type',
  DSSE_SIGNATURE_INVALID: 'signatures',
};

const verify: CommandSpec = {
  name: 'dsse verify',
  summary: 'Verify a DSSE envelope (or Sigstore bundle) against public keys',
  args: '<envelope.json>',
  description: [
    'Checks the payloadType (with --payload-type) and that at least --threshold distinct trusted',
    'keys signed PAE(payloadType, payload). Keys are PEM/DER/JWK public key files (a private key',
    'file also works). A Sigstore bundle v0.3 is accepted in place of an envelope: its publicKey.hint',
    'must name the --key that verifies, every RFC 3161 timestamp in it must verify over the signature',
    'against a --tsa-ca (a bundle with timestamps and no --tsa-ca fails), and a bundle with',
    'transparency-log entries fails (they cannot be verified offline).',
    'Exit 0 verified, 3 verification failed (the failed check is printed), 1 unreadable file or key.',
    '',
    'Example:',
    '  stella dsse verify --key signer.pub.pem --payload-type application/vnd.in-toto+json statement.dsse.json',
  ].join('\n'),
  options: {
    key: { type: 'string', arg: '<pub.pem>', multiple: true, description: 'Trusted public key file (repeatable)' },
    threshold: { type: 'string', arg: '<n>', description: 'Distinct trusted keys that must have signed', default: '1' },
    'payload-type': { type: 'string', arg: '<type>', description: 'Required payloadType' },
    'tsa-ca': {
      type: 'string',
      arg: '<ca.pem>',
      multiple: true,
      description: 'Trusted TSA CA certificate for Sigstore bundle timestamps (repeatable)',
    },
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const keyFiles = listOpt(ctx, 'key');
    const tsaCas = await Promise.all(listOpt(ctx, 'tsa-ca').map((f) => readInput(ctx, f, 'TSA CA certificate')));
    if (keyFiles.length === 0) throw new UsageError('--key is required');
    const thresholdText = stringOpt(ctx, 'threshold') ?? '1';
    if (!/^[1-9][0-9]{0,5}$/.test(thresholdText))
      throw new UsageError(`--threshold must be a positive integer, not ${thresholdText}`);
    const threshold = Number(thresholdText);
    if (threshold > keyFiles.length)
      throw new UsageError(`--threshold ${threshold} can never be met with ${keyFiles.length} key(s)`);
    const expectedPayloadType = stringOpt(ctx, 'payload-type');

    const [{ loadPublicKeyFile }, dsse, { keySetFromPublicKeys }] = await Promise.all([
      import('@stella/platform/keys'),
      import('@stella/core/dsse'),
      import('@stella/core/signing'),
    ]);
    const publicKeys = [];
    for (const f of keyFiles) publicKeys.push(await loadPublicKeyFile(resolve(ctx.cwd, f)));
    const keys = keySetFromPublicKeys(publicKeys);
    const bytes = await readInput(ctx, ctx.positionals[0]!, 'envelope');

    try {
      let result: { payloadType: string; payload: Uint8Array; verifiedKeyIds: string[] };
      // A Sigstore bundle is recognised by its mediaType; anything else is parsed as an envelope.
      if (
        bytes.includes(SIGSTORE_PREFIX) &&
        /"mediaType"\s*:\s*"application\/vnd\.dev\.sigstore\.bundle/.test(bytes.toString('utf8'))
      ) {
        const { verifySigstoreBundle } = await import('@stella/core/sigstore');
        const v = await verifySigstoreBundle(bytes, {
          keys,
          timestampTrustedCerts: tsaCas,
          ...(expectedPayloadType !== undefined ? { expectedPayloadType } : {}),
        });
        if (threshold > 1)
          throw new StellaError('DSSE_SIGNATURE_INVALID', `a Sigstore bundle carries one signature, not ${threshold}`);
        result = { payloadType: v.payloadType, payload: v.payload, verifiedKeyIds: [v.verifiedKeyId] };
      } else
        result = dsse.verifyEnvelope(dsse.parseEnvelope(bytes), {
          keys,
          threshold,
          ...(expectedPayloadType !== undefined ? { expectedPayloadType } : {}),
        });
      const summary = {
        verified: true,
        payloadType: result.payloadType,
        payloadSize: result.payload.length,
        payloadDigest: `sha256:${createHash('sha256').update(result.payload).digest('hex')}`,
        threshold,
        verifiedKeyIds: result.verifiedKeyIds,
      };
      if (ctx.json) println(ctx.stdout, JSON.stringify(summary));
      else {
        println(
          ctx.stdout,
          `Verified: ${result.verifiedKeyIds.length} of ${threshold} required signature(s) by trusted keys`,
        );
        for (const id of result.verifiedKeyIds) println(ctx.stdout, `  key ${id}`);
        println(
          ctx.stdout,
          `payloadType ${result.payloadType}, payload ${summary.payloadSize} bytes, ${summary.payloadDigest}`,
        );
      }
      return EXIT.OK;
    } catch (err) {
      if (!isStellaError(err) || FAILED_CHECK[err.code] === undefined) throw err;
      // Sigstore bundle failures name their check (timestamp, hint, tlog); structure errors do not.
      const detailCheck = (err.details as { check?: unknown } | undefined)?.check;
      const check =
        err.code === 'SIGSTORE_BUNDLE_INVALID' && typeof detailCheck === 'string'
          ? detailCheck
          : FAILED_CHECK[err.code]!;
      if (ctx.json)
        println(
          ctx.stdout,
          JSON.stringify({ verified: false, check, code: err.code, message: err.message, details: err.details }),
        );
      println(ctx.stderr, `Verification FAILED (check: ${check}): ${err.code}: ${err.message}`);
      return EXIT.VERIFY_FAILED;
    }
  },
};

export const commands: CommandSpec[] = [sign, verify];
