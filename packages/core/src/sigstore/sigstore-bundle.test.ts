/*
 * The Sigstore bundle rendering is checked by the independent verifier `@sigstore/verify@3`,
 * offline, with a trust root built from our public key and a throwaway openssl TSA (spec §1, §2).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { makeOpensslTsaPki, needTool, opensslTimestamp, tempDir, type OpensslTsaPki } from '@stella/testkit';
import { signEnvelope, type DsseEnvelope } from '../dsse/index.js';
import { isStellaError } from '../errors/index.js';
import { createKeySigner, keyIdHint, keySetFromPublicKeys, type Signer } from '../signing/index.js';
import {
  SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
  parseSigstoreBundle,
  serializeSigstoreBundle,
  signatureToTimestamp,
  sigstorePublicKeyDetails,
  toSigstoreBundle,
  verifySigstoreBundle,
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
  withTsa = true,
): void {
  const trustedRoot = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities:
      tsaChain && withTsa
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

describe(
  'verifySigstoreBundle agrees with @sigstore/verify@3 on crafted bundles (issue 20 point 2)',
  { skip: noOpenssl },
  () => {
    type Verdict = 'accept' | 'refuse';
    let s: Signer;
    let publicKey: KeyObject;
    let env: DsseEnvelope;
    let tsr: Uint8Array;
    let caPem: string;
    before(async () => {
      ({ s, publicKey } = signer('ec'));
      env = await signEnvelope(te.encode('{"_type":"https://in-toto.io/Statement/v1"}'), INTOTO, [s]);
      tsr = await timestamp(signatureToTimestamp(env));
      caPem = await readFile(pki.caCert, 'utf8');
    });

    /** Both verdicts on one bundle, with the same trust: our key and (unless `withTsa` is false) the TSA. */
    async function verdicts(
      bundle: unknown,
      o: { threshold?: number; withTsa?: boolean; allowUnverifiedTlogEntries?: boolean } = {},
    ): Promise<{ sigstore: Verdict; ours: Verdict; error?: unknown }> {
      let sigstore: Verdict = 'accept';
      try {
        sigstoreVerify(bundle as SigstoreBundleJson, s, keyIdHint(s.keyId), o.threshold ?? 0, o.withTsa ?? true);
      } catch {
        sigstore = 'refuse';
      }
      try {
        await verifySigstoreBundle(JSON.stringify(bundle), {
          keys: keySetFromPublicKeys([publicKey]),
          timestampTrustedCerts: (o.withTsa ?? true) ? [caPem] : [],
          timestampThreshold: o.threshold ?? 0,
          ...(o.allowUnverifiedTlogEntries ? { allowUnverifiedTlogEntries: true } : {}),
        });
        return { sigstore, ours: 'accept' };
      } catch (error) {
        assert.ok(
          isStellaError(error, 'SIGSTORE_BUNDLE_INVALID') || isStellaError(error, 'DSSE_SIGNATURE_INVALID'),
          String(error),
        );
        return { sigstore, ours: 'refuse', error };
      }
    }
    const check = (e: unknown) => (e as { details?: { check?: string } }).details?.check;

    test('a valid bundle, with and without a timestamp: both accept', async () => {
      assert.deepEqual(await verdicts(toSigstoreBundle(env, { rfc3161Timestamps: [tsr] }), { threshold: 1 }), {
        sigstore: 'accept',
        ours: 'accept',
      });
      assert.deepEqual(await verdicts(toSigstoreBundle(env)), { sigstore: 'accept', ours: 'accept' });
      const ok = await verifySigstoreBundle(
        serializeSigstoreBundle(toSigstoreBundle(env, { rfc3161Timestamps: [tsr] })),
        {
          keys: keySetFromPublicKeys([publicKey]),
          timestampTrustedCerts: [caPem],
        },
      );
      assert.equal(ok.verifiedKeyId, s.keyId);
      assert.equal(ok.timestamps.length, 1);
      assert.equal(ok.ignoredTlogEntries, 0);
    });

    test('timestamps: over another signature, garbage bytes, duplicated, or without TSA trust: both refuse', async () => {
      const other = await signEnvelope(te.encode('another statement'), INTOTO, [s]);
      const overOther = await timestamp(signatureToTimestamp(other));
      const cases: [string, unknown, { threshold?: number; withTsa?: boolean }][] = [
        ['timestamp over another signature', toSigstoreBundle(env, { rfc3161Timestamps: [overOther] }), {}],
        ['garbage timestamp bytes', toSigstoreBundle(env, { rfc3161Timestamps: [Uint8Array.from([1, 2, 3])] }), {}],
        ['the same timestamp twice', toSigstoreBundle(env, { rfc3161Timestamps: [tsr, tsr] }), {}],
        ['a timestamp but no TSA trusted', toSigstoreBundle(env, { rfc3161Timestamps: [tsr] }), { withTsa: false }],
        ['threshold 1 without a timestamp', toSigstoreBundle(env), { threshold: 1 }],
      ];
      for (const [name, bundle, o] of cases) {
        const v = await verdicts(bundle, o);
        assert.deepEqual([v.sigstore, v.ours], ['refuse', 'refuse'], name);
        assert.equal(check(v.error), 'timestamp', name);
      }
    });

    test('non-empty tlogEntries: both refuse; allowUnverifiedTlogEntries accepts and reports them as ignored', async () => {
      const bundle = toSigstoreBundle(env) as unknown as { verificationMaterial: Record<string, unknown> };
      bundle.verificationMaterial.tlogEntries = [
        {
          logIndex: '1',
          logId: { keyId: Buffer.alloc(32, 7).toString('base64') },
          kindVersion: { kind: 'dsse', version: '0.0.1' },
          integratedTime: '1700000000',
          inclusionPromise: { signedEntryTimestamp: Buffer.from('not a signature').toString('base64') },
          canonicalizedBody: Buffer.from('{}').toString('base64'),
        },
      ];
      const v = await verdicts(bundle);
      assert.deepEqual([v.sigstore, v.ours], ['refuse', 'refuse']);
      assert.equal(check(v.error), 'tlog');
      const allowed = await verifySigstoreBundle(JSON.stringify(bundle), {
        keys: keySetFromPublicKeys([publicKey]),
        allowUnverifiedTlogEntries: true,
      });
      assert.equal(allowed.ignoredTlogEntries, 1);
    });

    test('publicKey.hint naming another key than the one that verifies: both refuse', async () => {
      const other = signer('ec').s;
      const bundle = toSigstoreBundle(env, { publicKeyHint: keyIdHint(other.keyId) });
      const v = await verdicts(bundle);
      assert.deepEqual([v.sigstore, v.ours], ['refuse', 'refuse']);
      assert.equal(check(v.error), 'hint');
      // Even when the named key is trusted too: the signature is checked with the hinted key only.
      await assert.rejects(
        verifySigstoreBundle(JSON.stringify(bundle), {
          keys: keySetFromPublicKeys([publicKey, createPublicKeyOf(other)]),
        }),
        (e: unknown) => isStellaError(e, 'DSSE_SIGNATURE_INVALID'),
      );
    });

    test('forbidden material combinations are refused (sigstore-js keeps one of the two silently)', async () => {
      const good = toSigstoreBundle(env);
      const withCert = {
        ...good,
        verificationMaterial: {
          ...good.verificationMaterial,
          certificate: { rawBytes: pemToDer(caPem).toString('base64') },
        },
      };
      const v1 = await verdicts(withCert);
      // @sigstore/bundle decodes the `oneof` by taking publicKey and dropping the certificate, so
      // @sigstore/verify accepts; bundle.proto allows one of them, and we refuse. The one deliberate
      // disagreement.
      assert.deepEqual([v1.sigstore, v1.ours], ['accept', 'refuse']);
      const withMessage = {
        ...good,
        messageSignature: {
          messageDigest: { algorithm: 'SHA2_256', digest: Buffer.alloc(32).toString('base64') },
          signature: Buffer.from(good.dsseEnvelope.signatures[0]!.sig, 'base64').toString('base64'),
        },
      };
      const v2 = await verdicts(withMessage);
      assert.deepEqual([v2.sigstore, v2.ours], ['refuse', 'refuse']);
      for (const [b, path] of [
        [withCert, '$.verificationMaterial.certificate'],
        [withMessage, '$.messageSignature'],
      ] as const)
        assert.throws(
          () => parseSigstoreBundle(JSON.stringify(b)),
          (e: unknown) => isStellaError(e, 'SIGSTORE_BUNDLE_INVALID') && (e.details as { path: string }).path === path,
        );
    });
  },
);

function createPublicKeyOf(sg: Signer): KeyObject {
  return createPublicKey({ key: Buffer.from(sg.publicKeySpki()), format: 'der', type: 'spki' });
}
