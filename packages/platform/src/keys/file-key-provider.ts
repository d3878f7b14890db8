import { readFile, stat } from 'node:fs/promises';
import { StellaError } from '@stella/core/errors';
import { createKeySigner, parsePrivateKey, parsePublicKey, type Signer } from '@stella/core/signing';
import type { KeyObject } from 'node:crypto';

/** Key files larger than this are not keys (a 16k-bit RSA JWK is still far below it). */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;

/** Reads a key file; a missing/unreadable file is KEY_NOT_FOUND, an oversized one KEY_INVALID. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile())
      throw new StellaError('KEY_NOT_FOUND', `key file ${path} is not a regular file`, { details: { path } });
    size = s.size;
  } catch (err) {
    if (err instanceof StellaError) throw err;
    throw new StellaError(
      'KEY_NOT_FOUND',
      `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        details: { path },
        cause: err,
      },
    );
  }
  if (size > MAX_KEY_FILE_BYTES)
    throw new StellaError('KEY_INVALID', `key file ${path} is ${size} bytes; not a key`, { details: { path } });
  try {
    return await readFile(path);
  } catch (err) {
    throw new StellaError(
      'KEY_NOT_FOUND',
      `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        details: { path },
        cause: err,
      },
    );
  }
}

/** A {@link Signer} whose key is a PEM (PKCS#8/SEC1/PKCS#1) or JWK private key file. */
export async function loadFileSigner(path: string, options: { passphrase?: string } = {}): Promise<Signer> {
  const bytes = await readKeyFile(path);
  try {
    return createKeySigner(parsePrivateKey(bytes, options));
  } catch (err) {
    if (err instanceof StellaError)
      throw new StellaError(err.code, `${path}: ${err.message}`, { details: { path }, cause: err });
    throw err;
  }
}

/**
 * A public key for verification from a PEM (SPKI, PKCS#1, certificate), DER SPKI or JWK file. A
 * private key file yields its public half.
 */
export async function loadPublicKeyFile(path: string): Promise<KeyObject> {
  const bytes = await readKeyFile(path);
  try {
    return parsePublicKey(bytes);
  } catch (err) {
    if (err instanceof StellaError)
      throw new StellaError(err.code, `${path}: ${err.message}`, { details: { path }, cause: err });
    throw err;
  }
}
