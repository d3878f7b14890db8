import { readFile, stat } from 'node:fs/promises';
import { StellaError } from '@stella/core/errors';
import { createKeySigner, parsePrivateKey, parsePublicKey, type Signer } from '@stella/core/signing';
import type { KeyObject } from 'node:crypto';

/** Key files larger than this are not keys (a 16k-bit RSA JWK is still far below it). */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;

/** `ENOENT` and friends in words, for the messages below. */
function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return code ?? (err as Error).message;
}

/**
 * What a file holds when its PEM label (RFC 7468 §2) says it is not a private key, so the user
 * hears "this is a public key" rather than OpenSSL's decoder error.
 */
export function notAPrivateKey(bytes: Uint8Array): string | undefined {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(Buffer.from(bytes).toString('latin1'))?.[1];
  if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') return 'a public key';
  if (label === 'CERTIFICATE' || label === 'TRUSTED CERTIFICATE') return 'a certificate';
  if (label === 'CERTIFICATE REQUEST') return 'a certificate request';
  return undefined;
}

/** OpenSSL's own reasons (`error:1E08010C:DECODER routines::unsupported`) mean nothing to users. */
function isOpensslError(err: unknown): boolean {
  const c = (err as { cause?: { code?: unknown } }).cause?.code;
  return typeof c === 'string' && c.startsWith('ERR_OSSL');
}

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
    throw new StellaError('KEY_NOT_FOUND', `cannot read key file ${path}: ${whyUnreadable(err)}`, {
      details: { path },
      cause: err,
    });
  }
  if (size > MAX_KEY_FILE_BYTES)
    throw new StellaError('KEY_INVALID', `key file ${path} is ${size} bytes; not a key`, { details: { path } });
  try {
    return await readFile(path);
  } catch (err) {
    throw new StellaError('KEY_NOT_FOUND', `cannot read key file ${path}: ${whyUnreadable(err)}`, {
      details: { path },
      cause: err,
    });
  }
}

/** A {@link Signer} whose key is a PEM (PKCS#8/SEC1/PKCS#1) or JWK private key file. */
export async function loadFileSigner(path: string, options: { passphrase?: string } = {}): Promise<Signer> {
  const bytes = await readKeyFile(path);
  const holds = notAPrivateKey(bytes);
  if (holds)
    throw new StellaError(
      'KEY_INVALID',
      `${path} is ${holds}; signing needs the private key (PKCS#8, SEC1 or PKCS#1 PEM, PKCS#8 DER, or a JWK with "d")`,
      { details: { path } },
    );
  try {
    return createKeySigner(parsePrivateKey(bytes, options));
  } catch (err) {
    if (err instanceof StellaError && isOpensslError(err))
      throw new StellaError(
        err.code,
        `${path} is not a private key stella can read (PKCS#8, SEC1 or PKCS#1 PEM, PKCS#8 DER, or a JWK with "d")`,
        { details: { path }, cause: err },
      );
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
    if (err instanceof StellaError && isOpensslError(err))
      throw new StellaError(
        err.code,
        `${path} is not a public key stella can read (SPKI or PKCS#1 PEM, a certificate, SPKI DER, or a JWK)`,
        { details: { path }, cause: err },
      );
    if (err instanceof StellaError)
      throw new StellaError(err.code, `${path}: ${err.message}`, { details: { path }, cause: err });
    throw err;
  }
}
