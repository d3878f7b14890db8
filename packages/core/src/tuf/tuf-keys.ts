/**
 * TUF key objects and signers. Signing in core never touches files or tokens: a {@link TufSigner}
 * wraps either a node:crypto KeyObject (pure computation) or any `sign(bytes)` function, e.g. one
 * backed by a PKCS#11 key from @stella/platform.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { canonicalOlpcBytes } from '../canonical-json/index.js';
import { sha256Hex } from '../digest/index.js';
import { StellaError } from '../errors/index.js';
import { publicKeyIdentity, signWithKey, verifyWithKey, type SignatureAlgorithm } from '../signing/index.js';
import type { TufKey } from './tuf-types.js';

/** Signs the canonical bytes of a `signed` object; returns the raw signature (DER for ECDSA). */
export type TufSignFn = (data: Uint8Array) => Promise<Uint8Array> | Uint8Array;

/** A key that can sign metadata: its public TUF key object, its keyid and a signing function. */
export interface TufSigner {
  keyid: string;
  key: TufKey;
  sign: TufSignFn;
}

// DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410 §4): SEQ { SEQ { OID 1.3.101.112 }, BIT STRING }.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * KEYID per TUF spec ("KEYID is the hexdigest of the SHA-256 hash of the canonical form of the
 * key"): SHA-256 of the OLPC canonical JSON of the public key object.
 */
export function tufKeyId(key: TufKey): string {
  return sha256Hex(
    canonicalOlpcBytes({ keytype: key.keytype, scheme: key.scheme, keyval: { public: key.keyval.public } }),
  );
}

/**
 * The TUF key object for a public (or private — only the public half is used) KeyObject:
 * Ed25519 → `ed25519`/`ed25519` with 64 hex chars of the raw key; P-256 → `ecdsa`/
 * `ecdsa-sha2-nistp256` with an SPKI PEM; RSA → `rsa`/`rsassa-pss-sha256` with an SPKI PEM (the
 * only RSA scheme tuf-js supports).
 * @throws StellaError KEY_INVALID for other key types or curves.
 */
export function tufKeyFromKeyObject(keyObject: KeyObject): TufKey {
  const pub = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject;
  switch (pub.asymmetricKeyType) {
    case 'ed25519': {
      const der = pub.export({ format: 'der', type: 'spki' });
      return {
        keytype: 'ed25519',
        scheme: 'ed25519',
        keyval: { public: der.subarray(der.length - 32).toString('hex') },
      };
    }
    case 'ec':
      if (pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new StellaError(
          'KEY_INVALID',
          `unsupported EC curve ${String(pub.asymmetricKeyDetails?.namedCurve)} for TUF (P-256 only)`,
        );
      }
      return {
        keytype: 'ecdsa',
        scheme: 'ecdsa-sha2-nistp256',
        keyval: { public: pub.export({ format: 'pem', type: 'spki' }).toString() },
      };
    case 'rsa':
      return {
        keytype: 'rsa',
        scheme: 'rsassa-pss-sha256',
        keyval: { public: pub.export({ format: 'pem', type: 'spki' }).toString() },
      };
    default:
      throw new StellaError('KEY_INVALID', `unsupported key type ${String(pub.asymmetricKeyType)} for TUF`);
  }
}

/**
 * The signing module's algorithm for a TUF signature scheme (securesystemslib names), or
 * undefined for a scheme we do not support. The parameters are the same on both sides: ECDSA
 * signatures are DER, and `rsassa-pss-sha256` is RSA-PSS with SHA-256/MGF1-SHA-256 and a salt as
 * long as the digest — what the signing module uses for `rsa-pss-sha256`.
 */
export function signatureAlgorithmOfTufScheme(scheme: string): SignatureAlgorithm | undefined {
  // A switch, not an object lookup: `scheme` comes from untrusted metadata (`__proto__`, …).
  switch (scheme) {
    case 'ed25519':
      return 'ed25519';
    case 'ecdsa-sha2-nistp256':
      return 'ecdsa-p256-sha256';
    case 'rsassa-pss-sha256':
      return 'rsa-pss-sha256';
    default:
      return undefined;
  }
}

/** A {@link TufSigner} over a private KeyObject (Ed25519, ECDSA P-256 with SHA-256, RSA-PSS SHA-256). */
export function tufSignerFromKeyObject(privateKey: KeyObject): TufSigner {
  if (privateKey.type !== 'private') throw new StellaError('KEY_INVALID', 'a TUF signer needs a private key');
  const key = tufKeyFromKeyObject(privateKey);
  // tufKeyFromKeyObject only produces the three supported schemes.
  const algorithm = signatureAlgorithmOfTufScheme(key.scheme)!;
  return { keyid: tufKeyId(key), key, sign: async (data) => signWithKey(algorithm, privateKey, data) };
}

/** A {@link TufSigner} from a public key object and an external signing function (HSM, KMS). */
export function tufSignerFromFunction(key: TufKey, sign: TufSignFn): TufSigner {
  return { keyid: tufKeyId(key), key, sign };
}

function publicKeyObject(key: TufKey): KeyObject | undefined {
  try {
    if (key.keytype === 'ed25519' && key.scheme === 'ed25519') {
      if (!/^[0-9a-fA-F]{64}$/.test(key.keyval.public)) return undefined;
      return createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(key.keyval.public, 'hex')]),
        format: 'der',
        type: 'spki',
      });
    }
    if ((key.keytype === 'ecdsa' || key.keytype === 'ecdsa-sha2-nistp256') && key.scheme === 'ecdsa-sha2-nistp256') {
      const k = createPublicKey(key.keyval.public);
      return k.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? k : undefined;
    }
    if (key.keytype === 'rsa' && key.scheme === 'rsassa-pss-sha256') return createPublicKey(key.keyval.public);
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * The identity of the public key a TUF key object holds, independent of how it is labelled or
 * encoded: its key material ({@link publicKeyIdentity}, shared with DSSE key sets). Two key objects
 * that differ only in spelling (keytype `ecdsa` vs `ecdsa-sha2-nistp256`, PEM line breaks, hex case
 * of an Ed25519 key) or in encoding (an EC point compressed or not, SEC 1 §2.3.3 — their SPKI bytes
 * differ) have the same identity, so one key can never count twice toward a threshold under two
 * keyids. `undefined` for keys we cannot parse (they never verify, so they never count).
 */
export function tufPublicKeyIdentity(key: TufKey): string | undefined {
  const pub = publicKeyObject(key);
  return pub ? publicKeyIdentity(pub) : undefined;
}

/**
 * Verifies one signature (lowercase hex) over `data` with a TUF key. Unknown key types/schemes and
 * unparsable keys or signatures verify as false — they can never count towards a threshold.
 */
export function verifyTufSignature(key: TufKey, data: Uint8Array, sigHex: string): boolean {
  const pub = publicKeyObject(key);
  const algorithm = signatureAlgorithmOfTufScheme(key.scheme);
  // Lowercase hex only, as every TUF implementation writes it: accepting both cases would let
  // anyone change the bytes of signed metadata (the unsigned signature part) without a key.
  if (!pub || !algorithm || typeof sigHex !== 'string' || !/^([0-9a-f]{2})+$/.test(sigHex)) return false;
  // verifyWithKey never throws: a garbled signature is just false.
  return verifyWithKey(algorithm, pub, data, Buffer.from(sigHex, 'hex'));
}
