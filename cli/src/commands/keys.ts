/**
 * `stella keys generate` — make a file signing key without openssl (issue 7 point 6): an
 * unencrypted PKCS#8 PEM private key (0600) and its SPKI PEM public key beside it, for
 * `stella dsse sign --key` and `stella dsse verify --key`. Production keys belong on a PKCS#11
 * token (docs/keys.md).
 */
import { open, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SignatureAlgorithm } from '@stella/core/signing';
import { EXIT, UsageError, println, stringOpt, type CommandSpec } from '../command.js';

/** `--alg` names; the signature scheme each key is used with is fixed (docs/keys.md). */
const ALGORITHMS: Record<string, SignatureAlgorithm> = {
  ed25519: 'ed25519',
  'ecdsa-p256': 'ecdsa-p256-sha256',
  'rsa-pss': 'rsa-pss-sha256',
};

/** `key.pem` → `key.pub.pem`; any other name gets `.pub.pem` appended. */
export function publicKeyPath(privatePath: string): string {
  return privatePath.endsWith('.pem') ? `${privatePath.slice(0, -4)}.pub.pem` : `${privatePath}.pub.pem`;
}

export const commands: CommandSpec[] = [
  {
    name: 'keys generate',
    summary: 'Generate a signing key (PKCS#8 PEM, 0600) and its public key',
    description: [
      `Writes the private key to -o and the public key beside it (key.pem → key.pub.pem).`,
      'Never overwrites either file. RSA keys are 3072 bits (RSASSA-PSS with SHA-256 when signing).',
      '',
      'Example:',
      '  stella keys generate --alg ed25519 -o signer.pem',
      '  stella dsse sign --key signer.pem --payload-type text/plain notes.txt > notes.dsse.json',
      '  stella dsse verify --key signer.pub.pem notes.dsse.json',
    ].join('\n'),
    options: {
      alg: {
        type: 'string',
        arg: '<ed25519|ecdsa-p256|rsa-pss>',
        description: 'Key algorithm',
        default: 'ed25519',
      },
      output: { type: 'string', short: 'o', arg: '<key.pem>', description: 'Where to write the private key' },
    },
    positionals: { max: 0 },
    async run(ctx) {
      const algName = stringOpt(ctx, 'alg') ?? 'ed25519';
      const algorithm = ALGORITHMS[algName];
      if (!algorithm)
        throw new UsageError(`--alg must be one of ${Object.keys(ALGORITHMS).join(', ')}, not '${algName}'`);
      const out = stringOpt(ctx, 'output', true);
      const privatePath = resolve(ctx.cwd, out);
      const pubPath = publicKeyPath(privatePath);

      const { generateFileKey } = await import('@stella/platform/keys');
      const { StellaError } = await import('@stella/core/errors');
      const key = await generateFileKey(privatePath, algorithm);
      // The public key is written exclusively too; if that fails, the new private key goes again,
      // so a failed run leaves nothing behind.
      try {
        const fh = await open(pubPath, 'wx', 0o644);
        try {
          await fh.writeFile(key.publicKeyPem);
        } finally {
          await fh.close();
        }
      } catch (err) {
        await unlink(privatePath).catch(() => undefined);
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw new StellaError('CONFLICT', `${pubPath} already exists; refusing to overwrite it`, {
            details: { path: pubPath },
          });
        throw err;
      }

      if (ctx.json)
        println(
          ctx.stdout,
          JSON.stringify({ privateKey: privatePath, publicKey: pubPath, algorithm: key.algorithm, keyId: key.keyId }),
        );
      else {
        println(ctx.stdout, `Wrote ${privatePath} (${algName} private key, mode 0600)`);
        println(ctx.stdout, `Wrote ${pubPath} (public key)`);
        println(ctx.stdout, `Key id: ${key.keyId}`);
      }
      return EXIT.OK;
    },
  },
];
