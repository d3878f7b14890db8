import { constants, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { StellaError } from '../errors/index.js';
import { keyIdFromSpki } from './key-id.js';
import { algorithmOfKey, publicKeyIdentity, spkiDer } from './key-parsing.js';
import type { KeySet, SignatureAlgorithm, Signer, VerificationKey } from './signer.js';

/** RSA-PSS salt length used when signing: the SHA-256 digest length (RFC 8017 §9.1, sslib `DIGEST_LENGTH`). */
export const RSA_PSS_SALT_LENGTH = 32;

/**
 * Signs `data` with a private key object using `algorithm`'s parameters. Ed25519 is deterministic
 * (RFC 8032 §5.1.6), so the same key and data always give the same 64 bytes.
 */
export function signWithKey(algorithm: SignatureAlgorithm, privateKey: KeyObject, data: Uint8Array): Uint8Array {
  switch (algorithm) {
    case 'ed25519':
      return new Uint8Array(sign(null, data, privateKey));
    case 'ecdsa-p256-sha256':
      return new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }));
    case 'rsa-pss-sha256':
      return new Uint8Array(
        sign('sha256', data, {
          key: privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: RSA_PSS_SALT_LENGTH,
        }),
      );
  }
}

/**
 * Verifies `signature` over `data`. Returns false (never throws) for a wrong or garbled signature,
 * so callers can report which signature failed. ECDSA expects DER; RSA-PSS accepts any salt length
 * (`RSA_PSS_SALTLEN_AUTO`, as securesystemslib's verifier does) with SHA-256 and MGF1-SHA-256.
 */
export function verifyWithKey(
  algorithm: SignatureAlgorithm,
  publicKey: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    switch (algorithm) {
      case 'ed25519':
        return verify(null, data, publicKey, signature);
      case 'ecdsa-p256-sha256':
        return verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature);
      case 'rsa-pss-sha256':
        return verify(
          'sha256',
          data,
          { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
          signature,
        );
    }
  } catch {
    // OpenSSL throws on some malformed encodings (e.g. a DER that does not parse); that is "invalid".
    return false;
  }
}

/**
 * A {@link Signer} over an in-memory private key (file keys, dev keys, tests). The algorithm and
 * key id come from the key itself.
 */
export function createKeySigner(privateKey: KeyObject): Signer {
  if (privateKey.type !== 'private') throw new StellaError('KEY_INVALID', 'a signer needs a private key');
  const algorithm = algorithmOfKey(privateKey);
  const spki = spkiDer(privateKey);
  const keyId = keyIdFromSpki(spki);
  return {
    keyId,
    algorithm,
    publicKeySpki: () => spki.slice(),
    sign: (data) => Promise.resolve(signWithKey(algorithm, privateKey, data)),
  };
}

/** A {@link VerificationKey} for a public key (or the public half of a private key). */
export function verificationKey(key: KeyObject): VerificationKey {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.type !== 'public') throw new StellaError('KEY_INVALID', 'not an asymmetric key');
  return { keyId: keyIdFromSpki(spkiDer(publicKey)), algorithm: algorithmOfKey(publicKey), publicKey };
}

/**
 * A {@link KeySet} from public keys. The same key given twice — also in another encoding (see
 * {@link publicKeyIdentity}) — appears once, under the key id of its first occurrence.
 */
export function keySetFromPublicKeys(keys: Iterable<KeyObject>): KeySet {
  const set = new Map<string, VerificationKey>();
  const seen = new Set<string>();
  for (const k of keys) {
    const vk = verificationKey(k);
    const identity = publicKeyIdentity(vk.publicKey);
    if (seen.has(identity)) continue;
    seen.add(identity);
    set.set(vk.keyId, vk);
  }
  return set;
}
