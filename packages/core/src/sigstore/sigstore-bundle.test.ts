/*
 * The Sigstore bundle rendering is checked by the independent verifier `@sigstore/verify@3`,
 * offline, with a trust root built from our public key and a throwaway openssl TSA (spec §1, §2).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { makeOpensslTsaPki, needTool, opensslTimestamp, tempDir, type OpensslTsaPki } from '@stella/testkit';
import { signEnvelope, type DsseEnvelope } from '../dsse/index.js';
import { isStellaError } from '../errors/index.js';
import { createKeySigner, keyIdHint, type Signer } from '../signing/index.js';
import {
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  parseSigstoreBundle,
  serializeSigstoreBundle,
  signatureToTimestamp,
  sigstorePublicKeyDetails,
  toSigstoreBundle,
  type SigstoreBundleJson,
} from './index.js';

const INTOTO = 'application/vnd.in-toto+json';
const te = new TextEncoder();

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

let dir: { path: string; cleanup: () => Promise<void> };
let pki: OpensslTsaPki;
let tsaChain: { leaf: Buffer; root: Buffer } | undefined;
const noOpenssl = needTool('openssl');

/** An RFC 3161 TimeStampResp from the throwaway openssl TSA over SHA-256(data). */
async function timestamp(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await opensslTimestamp(pki, data));
}

function sigstoreVerify(
  bundle: SigstoreBundleJson,
  signer: Signer,
  publicKeyHint: string,
  timestampThreshold: number,
): void {
  const trustedRoot = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: tsaChain
      ? [
          {
            subject: { organization: 'test', commonName: 'Test TSA' },
            certChain: {
              certificates: [
                { rawBytes: tsaChain.leaf.toString('base64') },
                { rawBytes: tsaChain.root.toString('base64') },
              ],
            },
            validFor: { start: '2020-01-01T00:00:00Z' },
          },
        ]
      : [],
  });
  const keys = {
    [publicKeyHint]: {
      rawBytes: Buffer.from(signer.publicKeySpki()),
      keyDetails: sigstorePublicKeyDetails(signer.algorithm),
    },
  };
  const parsed = bundleFromJSON(JSON.parse(serializeSigstoreBundle(bundle)));
  new Verifier(toTrustMaterial(trustedRoot, keys as never), {
    tlogThreshold: 0,
    ctlogThreshold: 0,
    timestampThreshold,
  }).verify(toSignedEntity(parsed));
}

before(async () => {
  dir = await tempDir('stella-sigstore-');
  if (noOpenssl) return;
  pki = await makeOpensslTsaPki(dir.path);
  tsaChain = {
    leaf: pemToDer(await readFile(pki.tsaCert, 'utf8')),
    root: pemToDer(await readFile(pki.caCert, 'utf8')),
  };
});
after(async () => {
  await dir.cleanup();
});

function signer(kind: 'ed25519' | 'ec'): { s: Signer; publicKey: KeyObject } {
  const kp = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { s: createKeySigner(kp.privateKey), publicKey: kp.publicKey };
}

describe('Sigstore bundle v0.3 accepted by @sigstore/verify@3 offline', { skip: noOpenssl }, () => {
  for (const kind of ['ed25519', 'ec'] as const) {
    test(`${kind}: with an RFC 3161 timestamp over SHA-256(sig); tampering and wrong timestamps fail`, async () => {
      const { s } = signer(kind);
      const env = await signEnvelope(te.encode('{"_type":"https://in-toto.io/Statement/v1"}'), INTOTO, [s]);
      const tsr = await timestamp(signatureToTimestamp(env));
      const bundle = toSigstoreBundle(env, { rfc3161Timestamps: [tsr] });
      assert.equal(bundle.mediaType, SIGSTORE_BUNDLE_V03_MEDIA_TYPE);
      assert.equal(bundle.verificationMaterial.publicKey.hint, keyIdHint(s.keyId));
      sigstoreVerify(bundle, s, keyIdHint(s.keyId), 1);

      const tampered: SigstoreBundleJson = {
        ...bundle,
        dsseEnvelope: { ...bundle.dsseEnvelope, payloadType: 'application/json' },
      };
      assert.throws(
        () => sigstoreVerify(tampered, s, keyIdHint(s.keyId), 1),
        (e: { code?: string }) => e.code === 'SIGNATURE_ERROR',
      );

      const otherTsr = await timestamp(te.encode('some other bytes'));
      const wrongTs = toSigstoreBundle(env, { rfc3161Timestamps: [otherTsr] });
      assert.throws(
        () => sigstoreVerify(wrongTs, s, keyIdHint(s.keyId), 1),
        (e: { code?: string }) => e.code === 'TIMESTAMP_ERROR',
      );
    });
  }

  test('without timestamps: verifies with timestampThreshold 0, fails with 1; a wrong key fails', async () => {
    const { s } = signer('ec');
    const env = await signEnvelope(te.encode('x'), INTOTO, [s]);
    const bundle = toSigstoreBundle(env);
    assert.equal(bundle.verificationMaterial.timestampVerificationData, undefined);
    sigstoreVerify(bundle, s, keyIdHint(s.keyId), 0);
    assert.throws(
      () => sigstoreVerify(bundle, s, keyIdHint(s.keyId), 1),
      (e: { code?: string }) => e.code === 'TIMESTAMP_ERROR',
    );
    const other = signer('ec').s;
    assert.throws(
      () => sigstoreVerify(bundle, other, keyIdHint(s.keyId), 0),
      (e: { code?: string }) => e.code === 'SIGNATURE_ERROR',
    );
  });
});

describe('toSigstoreBundle / parseSigstoreBundle', () => {
  let env: DsseEnvelope;
  let a: Signer;
  let b: Signer;
  before(async () => {
    a = signer('ed25519').s;
    b = signer('ec').s;
    env = await signEnvelope(te.encode('two'), INTOTO, [a, b]);
  });

  test('multi-signature envelopes need keyId; the chosen signature is the only one', () => {
    assert.throws(
      () => toSigstoreBundle(env),
      (e: unknown) => isStellaError(e, 'SIGSTORE_BUNDLE_INVALID'),
    );
    const bundle = toSigstoreBundle(env, { keyId: b.keyId, rfc3161Timestamps: [Uint8Array.from([1, 2, 3])] });
    assert.equal(bundle.dsseEnvelope.signatures.length, 1);
    assert.equal(bundle.dsseEnvelope.signatures[0]!.keyid, keyIdHint(b.keyId));
    assert.deepEqual(signatureToTimestamp(env, b.keyId), env.signatures[1]!.sig);
    assert.throws(
      () => toSigstoreBundle(env, { keyId: `sha256:${'0'.repeat(64)}` }),
      (e: unknown) => isStellaError(e, 'SIGSTORE_BUNDLE_INVALID'),
    );
    const parsed = parseSigstoreBundle(serializeSigstoreBundle(bundle));
    assert.equal(parsed.publicKeyHint, keyIdHint(b.keyId));
    assert.deepEqual([...parsed.rfc3161Timestamps[0]!], [1, 2, 3]);
    assert.deepEqual(parsed.envelope.signatures[0]!.sig, env.signatures[1]!.sig);
    assert.equal(
      serializeSigstoreBundle(bundle),
      serializeSigstoreBundle(
        toSigstoreBundle(env, { keyId: b.keyId, rfc3161Timestamps: [Uint8Array.from([1, 2, 3])] }),
      ),
    );
  });

  test('malformed bundles are SIGSTORE_BUNDLE_INVALID', () => {
    const good = toSigstoreBundle(env, { keyId: a.keyId });
    const cases: unknown[] = [
      '{',
      [],
      { ...good, mediaType: 'application/vnd.dev.sigstore.bundle.v0.1+json' },
      { ...good, verificationMaterial: undefined },
      { ...good, verificationMaterial: { publicKey: {} } },
      {
        ...good,
        verificationMaterial: {
          ...good.verificationMaterial,
          timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: '***' }] },
        },
      },
      {
        ...good,
        verificationMaterial: { ...good.verificationMaterial, timestampVerificationData: { rfc3161Timestamps: {} } },
      },
      { ...good, dsseEnvelope: undefined },
      { ...good, dsseEnvelope: { ...good.dsseEnvelope, payload: 'abc' } },
      {
        ...good,
        dsseEnvelope: {
          ...good.dsseEnvelope,
          signatures: [...good.dsseEnvelope.signatures, ...good.dsseEnvelope.signatures],
        },
      },
    ];
    for (const c of cases) {
      assert.throws(
        () => parseSigstoreBundle(typeof c === 'string' ? c : JSON.stringify(c)),
        (e: unknown) => isStellaError(e, 'SIGSTORE_BUNDLE_INVALID'),
        JSON.stringify(c)?.slice(0, 80),
      );
    }
  });
});
