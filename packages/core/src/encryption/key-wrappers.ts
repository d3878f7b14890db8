/**
 * Data-key wrapping for envelope encryption: the {@link KeyWrapper} port and three built-in
 * wrappers — AES-256 key wrap (RFC 3394), RSA-OAEP with SHA-256 (RFC 8017 §7.1) and age X25519.
 * A KMS or PKCS#11 token plugs in by implementing the same port (e.g. `CKM_AES_KEY_WRAP` or
 * `CKM_RSA_PKCS_OAEP` on the token); core never talks to them itself.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  constants as cryptoConstants,
  type KeyObject,
} from 'node:crypto';
import { StellaError } from '../errors/index.js';
import { ageDecrypt, ageEncrypt, ageRecipientOf } from './age-codec.js';

/**
 * Port for anything that can wrap a 32-byte data-encryption key (DEK). `kind` names the scheme
 * in the envelope header (`[a-z0-9][a-z0-9.-]{0,31}`), `id` tells recipients apart (a key name,
 * a fingerprint, an age recipient). `unwrap` is absent for encrypt-only wrappers (public keys).
 * `unwrap` must throw when the wrapped key is not for it or is damaged.
 */
export interface KeyWrapper {
  readonly kind: string;
  readonly id: string;
  wrap(dek: Uint8Array): Promise<Uint8Array>;
  unwrap?(wrapped: Uint8Array): Promise<Uint8Array>;
}

/** RFC 3394 §2.2.3.1 default initial value. */
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

/**
 * AES-256 key wrap (RFC 3394) under a 32-byte KEK, e.g. a KEK held by a KMS and exported to an
 * offline site. Output is 40 bytes for a 32-byte DEK; unwrap checks RFC 3394's integrity value.
 * Interoperates with `openssl enc -d -id-aes256-wrap -iv A6A6A6A6A6A6A6A6 -K <hex>`.
 */
export function aesKeyWrapper(options: { kek: Uint8Array; id: string }): KeyWrapper {
  if (options.kek.byteLength !== 32) throw new StellaError('KEY_INVALID', 'an AES-256 KEK has exactly 32 bytes');
  const kek = Buffer.from(options.kek);
  return {
    kind: 'aes256-kw',
    id: options.id,
    async wrap(dek) {
      const c = createCipheriv('id-aes256-wrap', kek, KW_IV);
      return new Uint8Array(Buffer.concat([c.update(dek), c.final()]));
    },
    async unwrap(wrapped) {
      const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
      return new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
    },
  };
}

/** `sha256:<hex>` of a public key's SPKI DER — the default id of RSA recipients. */
export function publicKeyFingerprint(key: KeyObject): string {
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

function loadKey(input: string | Uint8Array | KeyObject, kind: 'public' | 'private'): KeyObject {
  if (typeof input === 'object' && !(input instanceof Uint8Array)) return input;
  try {
    if (kind === 'private')
      return createPrivateKey(
        typeof input === 'string' ? input : { key: Buffer.from(input), format: 'der', type: 'pkcs8' },
      );
    return createPublicKey(
      typeof input === 'string' ? input : { key: Buffer.from(input), format: 'der', type: 'spki' },
    );
  } catch (err) {
    throw new StellaError('KEY_INVALID', `cannot read RSA ${kind} key: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * RSA-OAEP with SHA-256 for both the OAEP hash and MGF1 (what `openssl pkeyutl -pkeyopt
 * rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256` does). Give the
 * public key to encrypt, the private key to decrypt (the public part is derived from it).
 */
export function rsaOaepKeyWrapper(options: {
  publicKey?: string | Uint8Array | KeyObject;
  privateKey?: string | Uint8Array | KeyObject;
  id?: string;
}): KeyWrapper {
  const priv = options.privateKey !== undefined ? loadKey(options.privateKey, 'private') : undefined;
  const pub =
    options.publicKey !== undefined ? loadKey(options.publicKey, 'public') : priv ? createPublicKey(priv) : undefined;
  if (!pub) throw new StellaError('KEY_INVALID', 'an RSA-OAEP wrapper needs a public or a private key');
  if (pub.asymmetricKeyType !== 'rsa')
    throw new StellaError('KEY_INVALID', `RSA-OAEP needs an RSA key, got ${pub.asymmetricKeyType ?? '?'}`);
  if ((pub.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
    throw new StellaError('KEY_INVALID', 'RSA keys must have at least 2048 bits');
  const oaep = { padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
  return {
    kind: 'rsa-oaep-256',
    id: options.id ?? publicKeyFingerprint(pub),
    async wrap(dek) {
      return new Uint8Array(publicEncrypt({ key: pub, ...oaep }, dek));
    },
    ...(priv
      ? {
          async unwrap(wrapped: Uint8Array) {
            return new Uint8Array(privateDecrypt({ key: priv, ...oaep }, wrapped));
          },
        }
      : {}),
  };
}

/**
 * age X25519: the DEK is wrapped as a tiny binary age file, so any age implementation (e.g.
 * `age -d -i key.txt`) can recover it. Give `recipient` to encrypt, `identity` to decrypt.
 */
export async function ageKeyWrapper(options: { recipient?: string; identity?: string }): Promise<KeyWrapper> {
  const recipient =
    options.recipient ?? (options.identity !== undefined ? await ageRecipientOf(options.identity) : undefined);
  if (!recipient) throw new StellaError('KEY_INVALID', 'an age wrapper needs a recipient or an identity');
  const identity = options.identity;
  // Validate the recipient now, not at the first wrap.
  await ageEncrypt(new Uint8Array(1), [recipient]);
  return {
    kind: 'age-x25519',
    id: recipient,
    wrap: (dek) => ageEncrypt(dek, [recipient]),
    ...(identity ? { unwrap: (wrapped: Uint8Array) => ageDecrypt(wrapped, [identity]) } : {}),
  };
}
