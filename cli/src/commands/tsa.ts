/**
 * `stella tsa serve` — run the built-in RFC 3161 TSA (issue #3 item 5) until SIGINT/SIGTERM.
 * For sites that must run their own time-stamping authority, e.g. air-gapped ones.
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import { readInputFile } from '../system-errors.js';

/** Default policy OID when none is given: a UUID-derived OID (ITU-T X.667, arc 2.25), so no one else's arc is squatted; see docs/formats/timestamps.md. */
export const DEFAULT_TSA_POLICY = '2.25.38239124332355553328317493082090887981';

async function runServe(ctx: CommandContext): Promise<number> {
  const keyPath = resolve(ctx.cwd, stringOpt(ctx, 'key', true));
  const certPath = resolve(ctx.cwd, stringOpt(ctx, 'cert', true));
  const chainArg = ctx.values.chain;
  const chainPaths = (Array.isArray(chainArg) ? chainArg : typeof chainArg === 'string' ? [chainArg] : []).map((p) =>
    resolve(ctx.cwd, p),
  );
  const port = Number(stringOpt(ctx, 'port') ?? '3161');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0–65535');
  const host = stringOpt(ctx, 'host') ?? '127.0.0.1';
  const policy = stringOpt(ctx, 'policy') ?? DEFAULT_TSA_POLICY;
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(policy)) throw new UsageError('--policy must be a dotted OID');

  const { startTsaServer } = await import('@stella/platform/timestamp');
  const [keyBytes, ...certs] = await Promise.all([keyPath, certPath, ...chainPaths].map((p) => readInputFile(p)));
  const { notAPrivateKey } = await import('@stella/platform/keys');
  const holds = notAPrivateKey(keyBytes!);
  if (holds) {
    const { StellaError } = await import('@stella/core/errors');
    throw new StellaError('KEY_INVALID', `--key ${keyPath} is ${holds}; the TSA needs its private key (PKCS#8 PEM)`);
  }
  const [key, cert, ...chain] = [keyBytes!, ...certs].map((b) => b.toString('utf8'));
  const json = ctx.json;
  const tsa = await startTsaServer({
    key: key!,
    cert: cert!,
    chain,
    policy,
    host,
    port,
    onResponse: (e) => {
      const at = new Date().toISOString();
      if (json) {
        println(
          ctx.stderr,
          JSON.stringify({
            at,
            status: e.status,
            granted: e.granted,
            failure: e.failure ?? null,
            reason: e.reason ?? null,
            serialNumber: e.serialNumber?.toString(16) ?? null,
          }),
        );
      } else {
        println(
          ctx.stderr,
          `${at} ${e.status} ${e.granted ? `granted serial=0x${e.serialNumber!.toString(16)}` : `rejected ${e.failure}: ${e.reason}`}`,
        );
      }
    },
  });
  if (json) println(ctx.stdout, JSON.stringify({ url: tsa.url, port: tsa.port, policy }));
  else
    println(
      ctx.stdout,
      `TSA listening on ${tsa.url} (policy ${policy}); POST application/timestamp-query. Ctrl-C to stop.`,
    );
  await waitForAbort(ctx.signal);
  await tsa.close();
  if (!json) println(ctx.stdout, 'TSA stopped.');
  return EXIT.OK;
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  return signal.aborted
    ? Promise.resolve()
    : new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

export const commands: CommandSpec[] = [
  {
    name: 'tsa serve',
    summary: 'Run the built-in RFC 3161 time-stamping authority over HTTP',
    description: [
      'Answers POST application/timestamp-query with application/timestamp-reply (RFC 3161 §3.4).',
      'The certificate needs extendedKeyUsage = critical, timeStamping; the key is PKCS#8 PEM (ECDSA P-256/P-384 or RSA).',
      'Serial numbers: unix-ms ‖ 64 random bits per process ‖ counter — unique without shared state.',
      '',
      'Example: stella tsa serve --key tsa.key --cert tsa.crt --chain ca.crt --port 3161',
    ].join('\n'),
    options: {
      key: { type: 'string', arg: '<key.pem>', description: 'TSA private key (PKCS#8 PEM)' },
      cert: { type: 'string', arg: '<cert.pem>', description: 'TSA certificate (PEM)' },
      chain: {
        type: 'string',
        arg: '<pem>',
        multiple: true,
        description: 'Chain certificates included when certReq is set (repeatable)',
      },
      port: { type: 'string', arg: '<n>', description: 'Port (0 = any free port)', default: '3161' },
      host: { type: 'string', arg: '<addr>', description: 'Bind address', default: '127.0.0.1' },
      policy: { type: 'string', arg: '<oid>', description: 'TSA policy OID', default: DEFAULT_TSA_POLICY },
    },
    positionals: { max: 0 },
    run: runServe,
  },
];
