import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type * as Pkcs11Types from 'pkcs11js';
import { StellaError } from '@stella/core/errors';
import {
  keyIdFromSpki,
  p1363ToDer,
  spkiDer,
  verifyWithKey,
  type SignatureAlgorithm,
  type Signer,
} from '@stella/core/signing';
import type { Pkcs11SignerRef } from './signer-uri.js';

type PKCS11 = Pkcs11Types.PKCS11;
type Handle = Buffer;
type Pkcs11Module = typeof Pkcs11Types;

/*
 * Mechanisms and key types pkcs11js does not export as constants (PKCS#11 v3.0 §6.3, §2.3.6):
 * SoftHSM 2.6 implements both for Ed25519.
 */
const CKM_EDDSA = 0x1057;
const CKK_EC_EDWARDS = 0x40;
/** DER of the P-256 curve OID 1.2.840.10045.3.1.7, as CKA_EC_PARAMS holds it (X9.62 namedCurve). */
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

/** A signer backed by a PKCS#11 token; `close()` ends its session and releases the module. */
export interface Pkcs11Signer extends Signer {
  close(): Promise<void>;
}

let modulePromise: Promise<Pkcs11Module> | undefined;
/** pkcs11js is a native addon: load it only when a pkcs11: signer is actually used. */
function pkcs11js(): Promise<Pkcs11Module> {
  modulePromise ??= import('pkcs11js').then(
    (m) => ((m as unknown as { default?: Pkcs11Module }).default ?? m) as Pkcs11Module,
  );
  return modulePromise;
}

/**
 * One loaded + C_Initialize'd library per path, shared and reference-counted: Cryptoki is
 * process-global (C_Initialize twice → CKR_CRYPTOKI_ALREADY_INITIALIZED, and one C_Finalize
 * would pull the rug from every other user), so signers on the same module must share it.
 */
const libraries = new Map<string, { lib: PKCS11; refs: number }>();

function ckrName(m: Pkcs11Module, code: number): string {
  for (const [k, v] of Object.entries(m)) if (k.startsWith('CKR_') && v === code) return k;
  return `0x${code.toString(16)}`;
}

function p11Error(m: Pkcs11Module, what: string, err: unknown): StellaError {
  if (err instanceof StellaError) return err;
  const e = err as { code?: number; method?: string; message?: string };
  const ckr = typeof e.code === 'number' ? ckrName(m, e.code) : undefined;
  return new StellaError('PKCS11_ERROR', `${what}: ${ckr ?? e.message ?? String(err)}`, {
    details: { ckr, method: e.method },
    cause: err,
  });
}

async function acquire(m: Pkcs11Module, path: string): Promise<PKCS11> {
  const entry = libraries.get(path);
  if (entry) {
    entry.refs++;
    return entry.lib;
  }
  const lib = new m.PKCS11();
  try {
    lib.load(path);
  } catch (err) {
    throw new StellaError('PKCS11_ERROR', `cannot load PKCS#11 module ${path}: ${(err as Error).message}`, {
      details: { modulePath: path },
      cause: err,
    });
  }
  try {
    lib.C_Initialize();
  } catch (err) {
    // Another library instance in this process (not ours) initialised it: usable, never finalise it.
    if ((err as { code?: number }).code !== m.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw p11Error(m, 'C_Initialize', err);
  }
  libraries.set(path, { lib, refs: 1 });
  return lib;
}

function release(path: string): void {
  const entry = libraries.get(path);
  if (!entry) return;
  if (--entry.refs > 0) return;
  libraries.delete(path);
  try {
    entry.lib.C_Finalize();
  } catch {
    // Finalising is best-effort cleanup; a failure leaves nothing we could repair here.
  }
  entry.lib.close();
}

function ulong(buf: Buffer | undefined): number {
  if (!buf || buf.length === 0) return -1;
  return buf.readUIntLE(0, Math.min(buf.length, 6));
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

/** CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 v2.40 §2.3.3); some tokens omit it. */
function unwrapEcPoint(raw: Buffer, pointLength: number): Buffer {
  if (raw.length === pointLength) return raw;
  if (raw[0] === 0x04 && raw[1] === pointLength && raw.length === pointLength + 2) return raw.subarray(2);
  if (raw[0] === 0x04 && raw[1] === 0x81 && raw[2] === pointLength && raw.length === pointLength + 3)
    return raw.subarray(3);
  throw new StellaError('KEY_INVALID', `unexpected CKA_EC_POINT encoding (${raw.length} bytes)`);
}

async function readPin(ref: Pkcs11SignerRef): Promise<string | undefined> {
  if (!ref.pin) return undefined;
  if (ref.pin.source === 'value') return ref.pin.value;
  try {
    // A PIN file holds the PIN, optionally followed by one newline (as `echo` writes it).
    return (await readFile(ref.pin.path, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new StellaError(
      'KEY_NOT_FOUND',
      `cannot read PIN file ${ref.pin.path}: ${(err as NodeJS.ErrnoException).code ?? ''}`,
      {
        details: { path: ref.pin.path },
        cause: err,
      },
    );
  }
}

function describe(ref: Pkcs11SignerRef): string {
  return `token ${JSON.stringify(ref.token)}${ref.object !== undefined ? ` object ${JSON.stringify(ref.object)}` : ''}${ref.id ? ` id ${Buffer.from(ref.id).toString('hex')}` : ''}`;
}

function findObjects(lib: PKCS11, session: Handle, template: Pkcs11Types.Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/**
 * Opens a signer on a PKCS#11 token (RFC 7512 URI already parsed): loads the module, finds the
 * token by label (slot ids are not stable across SoftHSM re-inits), logs in with the PIN, finds
 * exactly one private key by label and/or CKA_ID, and reads the matching public key to compute
 * the SPKI and key id. Signing: Ed25519 via CKM_EDDSA over the message; ECDSA P-256 via
 * CKM_ECDSA over a SHA-256 digest computed here (SoftHSM has no CKM_ECDSA_SHA256), converted from
 * r‖s to DER; RSA via CKM_SHA256_RSA_PKCS_PSS with MGF1-SHA-256 and a 32-byte salt. Every
 * signature is checked against the public key before it is returned, so a faulty token cannot
 * hand out a bad (or key-leaking) signature unnoticed.
 *
 * Errors: KEY_NOT_FOUND (no token / key / public key), PKCS11_ERROR (module, login, signing),
 * KEY_INVALID (unsupported key type or curve), SIGNER_URI_INVALID (ambiguous key).
 */
export async function openPkcs11Signer(ref: Pkcs11SignerRef): Promise<Pkcs11Signer> {
  const m = await pkcs11js();
  const pin = await readPin(ref);
  const lib = await acquire(m, ref.modulePath);
  let session: Handle | undefined;
  try {
    const slot = lib.C_GetSlotList(true).find((s) => {
      const info = lib.C_GetTokenInfo(s);
      return info.label.trim() === ref.token && (ref.serial === undefined || info.serialNumber.trim() === ref.serial);
    });
    if (!slot)
      throw new StellaError(
        'KEY_NOT_FOUND',
        `no PKCS#11 token labelled ${JSON.stringify(ref.token)} in ${ref.modulePath}`,
        { details: { token: ref.token } },
      );
    session = lib.C_OpenSession(slot, m.CKF_SERIAL_SESSION);
    if (pin !== undefined) {
      try {
        lib.C_Login(session, m.CKU_USER, pin);
      } catch (err) {
        // Login state is per application and token; a second signer on the same token finds it done.
        if ((err as { code?: number }).code !== m.CKR_USER_ALREADY_LOGGED_IN)
          throw p11Error(m, `C_Login to token ${JSON.stringify(ref.token)}`, err);
      }
    }
    const select: Pkcs11Types.Template = [];
    if (ref.object !== undefined) select.push({ type: m.CKA_LABEL, value: ref.object });
    if (ref.id) select.push({ type: m.CKA_ID, value: Buffer.from(ref.id) });
    const privs = findObjects(lib, session, [{ type: m.CKA_CLASS, value: m.CKO_PRIVATE_KEY }, ...select]);
    if (privs.length === 0) {
      throw new StellaError(
        'KEY_NOT_FOUND',
        `no private key ${describe(ref)}${pin === undefined ? ' (no PIN given; private keys are only visible after login)' : ''}`,
        {
          details: { token: ref.token, object: ref.object },
        },
      );
    }
    if (privs.length > 1)
      throw new StellaError(
        'SIGNER_URI_INVALID',
        `more than one private key matches ${describe(ref)}; add id= to the URI`,
      );
    const priv = privs[0]!;
    const [typeAttr, idAttr, labelAttr] = lib.C_GetAttributeValue(session, priv, [
      { type: m.CKA_KEY_TYPE },
      { type: m.CKA_ID },
      { type: m.CKA_LABEL },
    ]);
    const keyType = ulong(typeAttr?.value as Buffer | undefined);
    const keyIdBytes = idAttr?.value as Buffer | undefined;
    // The public half lives in its own object with the same CKA_ID (PKCS#11 §4.4 convention).
    const pubSelect: Pkcs11Types.Template =
      keyIdBytes && keyIdBytes.length > 0
        ? [{ type: m.CKA_ID, value: keyIdBytes }]
        : [{ type: m.CKA_LABEL, value: labelAttr?.value as Buffer }];
    const pubs = findObjects(lib, session, [{ type: m.CKA_CLASS, value: m.CKO_PUBLIC_KEY }, ...pubSelect]);
    const pubObj = pubs.length === 1 ? pubs[0]! : undefined;

    let algorithm: SignatureAlgorithm;
    let jwk: JsonWebKey;
    if (keyType === m.CKK_EC || keyType === CKK_EC_EDWARDS) {
      if (!pubObj) throw new StellaError('KEY_NOT_FOUND', `no (unique) public key object for ${describe(ref)}`);
      const [params, point] = lib.C_GetAttributeValue(session, pubObj, [
        { type: m.CKA_EC_PARAMS },
        { type: m.CKA_EC_POINT },
      ]);
      const raw = point?.value as Buffer;
      if (keyType === CKK_EC_EDWARDS) {
        algorithm = 'ed25519';
        jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(unwrapEcPoint(raw, 32)) };
      } else {
        if (!P256_PARAMS.equals(params?.value as Buffer))
          throw new StellaError('KEY_INVALID', `${describe(ref)} is an EC key on a curve other than P-256`);
        const q = unwrapEcPoint(raw, 65);
        if (q[0] !== 0x04) throw new StellaError('KEY_INVALID', 'compressed EC points are not supported');
        algorithm = 'ecdsa-p256-sha256';
        jwk = { kty: 'EC', crv: 'P-256', x: b64url(q.subarray(1, 33)), y: b64url(q.subarray(33)) };
      }
    } else if (keyType === m.CKK_RSA) {
      const [n, e] = lib.C_GetAttributeValue(session, pubObj ?? priv, [
        { type: m.CKA_MODULUS },
        { type: m.CKA_PUBLIC_EXPONENT },
      ]);
      algorithm = 'rsa-pss-sha256';
      jwk = { kty: 'RSA', n: b64url(n?.value as Buffer), e: b64url(e?.value as Buffer) };
    } else {
      throw new StellaError('KEY_INVALID', `${describe(ref)} has unsupported CKA_KEY_TYPE ${keyType}`);
    }
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      throw new StellaError('KEY_INVALID', `cannot build the public key of ${describe(ref)}`, { cause: err });
    }
    if (algorithm === 'rsa-pss-sha256' && (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new StellaError('KEY_INVALID', `${describe(ref)} is an RSA key shorter than 2048 bits`);
    }
    const spki = spkiDer(publicKey);
    const keyId = keyIdFromSpki(spki);
    const openSession = session;
    let queue: Promise<unknown> = Promise.resolve();
    let closed = false;

    const signOnce = async (data: Uint8Array): Promise<Uint8Array> => {
      if (closed) throw new StellaError('PKCS11_ERROR', 'signer is closed');
      let mechanism: Pkcs11Types.Mechanism;
      let input: Buffer;
      if (algorithm === 'ed25519') {
        mechanism = { mechanism: CKM_EDDSA };
        input = Buffer.from(data);
      } else if (algorithm === 'ecdsa-p256-sha256') {
        mechanism = { mechanism: m.CKM_ECDSA };
        input = createHash('sha256').update(data).digest();
      } else {
        const params: Pkcs11Types.RsaPSS = {
          type: m.CK_PARAMS_RSA_PSS,
          hashAlg: m.CKM_SHA256,
          mgf: m.CKG_MGF1_SHA256,
          saltLen: 32,
        };
        mechanism = { mechanism: m.CKM_SHA256_RSA_PKCS_PSS, parameter: params };
        input = Buffer.from(data);
      }
      let out: Buffer;
      try {
        lib.C_SignInit(openSession, mechanism, priv);
        // The callback form runs C_Sign on libuv's pool, so a slow HSM does not block the event loop.
        out = await new Promise<Buffer>((res, rej) =>
          lib.C_Sign(openSession, input, Buffer.alloc(1024), (err, sig) => (err ? rej(err) : res(sig))),
        );
      } catch (err) {
        throw p11Error(m, `C_Sign with ${describe(ref)}`, err);
      }
      const sig = algorithm === 'ecdsa-p256-sha256' ? p1363ToDer(out) : new Uint8Array(out);
      if (!verifyWithKey(algorithm, publicKey, data, sig)) {
        throw new StellaError(
          'PKCS11_ERROR',
          `token returned a signature that does not verify with ${describe(ref)}'s public key`,
        );
      }
      return sig;
    };

    return {
      keyId,
      algorithm,
      publicKeySpki: () => spki.slice(),
      // One operation at a time per session (PKCS#11 §5.1: sessions are not re-entrant).
      sign: (data) => {
        const p = queue.then(() => signOnce(data));
        queue = p.catch(() => undefined);
        return p;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await queue;
        try {
          lib.C_CloseSession(openSession);
        } catch {
          // The module may already be finalised by a crashed peer; nothing left to clean.
        }
        release(ref.modulePath);
      },
    };
  } catch (err) {
    if (session) {
      try {
        lib.C_CloseSession(session);
      } catch {
        // best-effort cleanup on the failure path
      }
    }
    release(ref.modulePath);
    throw p11Error(m, `opening ${describe(ref)}`, err);
  }
}
