import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { StellaError } from '../errors/index.js';
import type { SignatureAlgorithm } from './signer.js';

/** Smallest RSA modulus accepted (NIST SP 800-57: 2048 bits for new signatures). */
export const MIN_RSA_BITS = 2048;

/** Options for {@link parsePrivateKey}. */
export interface PrivateKeyOptions {
  /** Passphrase of an encrypted PKCS#8 PEM. Without it, encrypted keys are rejected. */
  passphrase?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

type Detected = { kind: 'pem'; text: string } | { kind: 'jwk'; jwk: JsonWebKey } | { kind: 'der'; der: Buffer };

/** Decides how key material is encoded: PEM text, a JWK JSON object, or binary DER. */
function detect(input: string | Uint8Array): Detected {
  const text = typeof input === 'string' ? input : utf8.decode(input);
  const trimmed = text.trimStart();
  if (trimmed.startsWith('-----BEGIN ')) return { kind: 'pem', text };
  if (trimmed.startsWith('{')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch (err) {
      throw new StellaError('KEY_INVALID', 'key looks like JSON but does not parse as a JWK', { cause: err });
    }
    if (
      jwk === null ||
      typeof jwk !== 'object' ||
      Array.isArray(jwk) ||
      typeof (jwk as { kty?: unknown }).kty !== 'string'
    ) {
      throw new StellaError('KEY_INVALID', 'JWK has no "kty"');
    }
    return { kind: 'jwk', jwk: jwk as JsonWebKey };
  }
  if (typeof input === 'string') throw new StellaError('KEY_INVALID', 'key is neither PEM, JWK nor DER');
  return { kind: 'der', der: Buffer.from(input.buffer, input.byteOffset, input.byteLength) };
}

/**
 * Returns the signature algorithm a key is used with, or throws KEY_INVALID for key types the
 * project does not sign with (P-384, secp256k1, X25519, DSA, short RSA, RSA-PSS keys restricted to
 * another hash). RSA keys (plain `rsaEncryption` or `id-RSASSA-PSS`) always map to RSA-PSS: the
 * project never signs PKCS#1 v1.5.
 */
export function algorithmOfKey(key: KeyObject): SignatureAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (type) {
    case 'ed25519':
      return 'ed25519';
    case 'ec':
      if (details.namedCurve === 'prime256v1') return 'ecdsa-p256-sha256';
      throw new StellaError(
        'KEY_INVALID',
        `unsupported EC curve ${String(details.namedCurve)}; only P-256 is supported`,
      );
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS)
        throw new StellaError('KEY_INVALID', `RSA key of ${bits} bits is too short (minimum ${MIN_RSA_BITS})`);
      // An id-RSASSA-PSS key may carry parameters that pin another hash (RFC 4055 §3.1).
      if (type === 'rsa-pss' && details.hashAlgorithm !== undefined && details.hashAlgorithm !== 'sha256') {
        throw new StellaError(
          'KEY_INVALID',
          `RSA-PSS key is restricted to ${details.hashAlgorithm}; only SHA-256 is supported`,
        );
      }
      return 'rsa-pss-sha256';
    }
    default:
      throw new StellaError(
        'KEY_INVALID',
        `unsupported key type ${String(type)}; use Ed25519, ECDSA P-256 or RSA (PSS)`,
      );
  }
}

/**
 * Parses a public key from SPKI PEM (`PUBLIC KEY`), PKCS#1 PEM (`RSA PUBLIC KEY`), an X.509
 * certificate PEM (its subject key), SPKI DER, or a JWK. A private key (PEM or JWK with `d`) is
 * accepted too and its public half returned, so one key file works for both sides in dev setups.
 * Throws KEY_INVALID on anything else or on an unsupported key type.
 */
export function parsePublicKey(input: string | Uint8Array): KeyObject {
  const d = detect(input);
  let key: KeyObject;
  try {
    if (d.kind === 'pem') key = createPublicKey(d.text);
    else if (d.kind === 'jwk') key = createPublicKey({ key: d.jwk, format: 'jwk' });
    else key = createPublicKey({ key: d.der, format: 'der', type: 'spki' });
  } catch (err) {
    throw new StellaError('KEY_INVALID', `cannot parse public key (${d.kind}): ${(err as Error).message}`, {
      cause: err,
    });
  }
  algorithmOfKey(key);
  return key;
}

/**
 * Parses a private key from PEM (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`,
 * encrypted PKCS#8 with `passphrase`), PKCS#8 DER, or a JWK with `d`. Throws KEY_INVALID on
 * garbage, on public-only material, and on unsupported key types.
 */
export function parsePrivateKey(input: string | Uint8Array, options: PrivateKeyOptions = {}): KeyObject {
  const d = detect(input);
  if (d.kind === 'jwk' && typeof (d.jwk as { d?: unknown }).d !== 'string') {
    throw new StellaError('KEY_INVALID', 'JWK has no private part ("d")');
  }
  if (d.kind === 'pem' && /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(d.text) && options.passphrase === undefined) {
    throw new StellaError('KEY_INVALID', 'private key is encrypted; a passphrase is required');
  }
  let key: KeyObject;
  try {
    if (d.kind === 'pem')
      key = createPrivateKey({
        key: d.text,
        format: 'pem',
        ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
      });
    else if (d.kind === 'jwk') key = createPrivateKey({ key: d.jwk, format: 'jwk' });
    else key = createPrivateKey({ key: d.der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new StellaError('KEY_INVALID', `cannot parse private key (${d.kind}): ${(err as Error).message}`, {
      cause: err,
    });
  }
  algorithmOfKey(key);
  return key;
}

/** SubjectPublicKeyInfo DER of a public key, or of the public half of a private key. */
export function spkiDer(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/** SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`) of a public or private key. */
export function spkiPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * An encoding-independent identity of a public key: its key material as the RFC 7638 JWK members
 * (`crv`+`x`+`y`, `crv`+`x`, `n`+`e`). Several SPKI encodings name one key — an EC point
 * compressed or not (SEC 1 §2.3.3), one RSA modulus under rsaEncryption or id-RSASSA-PSS
 * (RFC 4055) — so their key ids differ while one signature verifies under all of them. Counting
 * signers by this identity keeps one key from counting twice toward a threshold.
 */
export function publicKeyIdentity(key: KeyObject): string {
  let pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType === 'rsa-pss') {
    // Node has no JWK export for rsa-pss keys; the SPKI's subjectPublicKey is the same PKCS#1
    // RSAPublicKey either way (RFC 4055 §1.2), so read the key through it.
    const spki = asn1js.fromBER(spkiDer(pub));
    const bits = (spki.result as asn1js.Sequence).valueBlock.value[1] as asn1js.BitString;
    pub = createPublicKey({ key: Buffer.from(bits.valueBlock.valueHexView), format: 'der', type: 'pkcs1' });
  }
  const jwk = pub.export({ format: 'jwk' });
  switch (jwk.kty) {
    case 'EC':
      return `EC:${jwk.crv}:${jwk.x}:${jwk.y}`;
    case 'OKP':
      return `OKP:${jwk.crv}:${jwk.x}`;
    case 'RSA':
      return `RSA:${jwk.n}:${jwk.e}`;
    default:
      throw new StellaError('KEY_INVALID', `unsupported key type ${String(jwk.kty)}`);
  }
}
