import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { StellaError } from '@stella/core/errors';
import { keyIdFromSpki, spkiDer, spkiPem, type SignatureAlgorithm } from '@stella/core/signing';

/** Result of {@link generateFileKey}. */
export interface GeneratedKey {
  path: string;
  algorithm: SignatureAlgorithm;
  keyId: string;
  /** SPKI PEM of the new key, to publish or pass to verifiers. */
  publicKeyPem: string;
}

function newKey(algorithm: SignatureAlgorithm): KeyObject {
  switch (algorithm) {
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey;
    case 'ecdsa-p256-sha256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'rsa-pss-sha256':
      return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    default:
      throw new StellaError('KEY_INVALID', `unknown algorithm ${String(algorithm)}`);
  }
}

/**
 * Generates a development signing key and writes it as unencrypted PKCS#8 PEM with mode 0600.
 * Never overwrites: an existing file is CONFLICT, and a failed write removes the partial file.
 * RSA keys are 3072 bits (NIST SP 800-57 128-bit strength). For production keys prefer a PKCS#11
 * token (docs/keys.md).
 */
export async function generateFileKey(path: string, algorithm: SignatureAlgorithm = 'ed25519'): Promise<GeneratedKey> {
  const key = newKey(algorithm);
  const pem = key.export({ type: 'pkcs8', format: 'pem' });
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new StellaError('CONFLICT', `${path} already exists; refusing to overwrite a key`, { details: { path } });
    throw new StellaError('KEY_NOT_FOUND', `cannot create key file ${path}: ${code ?? (err as Error).message}`, {
      details: { path },
      cause: err,
    });
  }
  try {
    await fh.writeFile(pem);
    await fh.chmod(0o600); // the umask may have narrowed it further but never widened; make it exact
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw new StellaError('INTERNAL', `failed to write key file ${path}`, { cause: err });
  }
  await fh.close();
  return { path, algorithm, keyId: keyIdFromSpki(spkiDer(key)), publicKeyPem: spkiPem(key) };
}
