/**
 * Issue #8 acceptance "one run on the S3 driver": snapshot → download → verify with the object
 * store on S3 (moto's server on loopback, a bucket with Object Lock), checked against the raw
 * bucket through the AWS SDK (not our driver): the downloaded bytes are the stored version's, a
 * legal hold is an S3 Object Lock hold the server itself enforces, and the sweeper removes an
 * unreferenced object and a staging leftover there too.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { motoUnavailable, startMotoServer, type MotoServer } from '@stella/platform/object-store/testing';
import { inCI, needTool, run, tempDir } from '@stella/testkit';
import { sweepEvidence, verifyBundle } from '@stella/evidence-locker';
import { sha, startEvidenceRuntime, type EvidenceClient } from './testing/evidence-http.js';

const noMoto = motoUnavailable();
if (noMoto && inCI) throw new Error(noMoto);

describe('evidence locker on the S3 driver (moto, Object Lock)', { skip: noMoto || needTool('tar') }, () => {
  let moto: MotoServer;
  let bucket: string;
  let raw: S3Client;
  let h: EvidenceClient;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    moto = await startMotoServer();
    bucket = await moto.createBucket({ objectLock: true });
    raw = new S3Client({
      endpoint: moto.endpoint,
      region: moto.region,
      credentials: moto.credentials,
      forcePathStyle: true,
    });
    dir = await tempDir('stella-evidence-s3-');
    h = await startEvidenceRuntime(
      {
        STELLA_OBJECT_STORE: `s3://${bucket}?endpoint=${encodeURIComponent(moto.endpoint)}&region=${moto.region}`,
        STELLA_S3_ACCESS_KEY_ID: moto.credentials.accessKeyId,
        STELLA_S3_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
        STELLA_DATA_DIR: join(dir.path, 'data'),
      },
      dir.path,
    );
  });
  after(async () => {
    await h?.close();
    raw?.destroy();
    await moto?.stop();
    await dir?.cleanup();
  });

  test('snapshot → download → verify; hold is S3 Object Lock; the sweeper works on the bucket', async () => {
    assert.equal(h.rt.store.driver, 's3');
    const input = randomBytes(300 * 1024);
    const up = await h.upload('acme', input);
    assert.equal(up.status, 201, await up.text());
    const body = {
      kind: 'export',
      subject: { name: 'export/data.bin', digest: sha(input) },
      artifacts: [
        { path: 'export/data.bin', role: 'output', mediaType: 'application/octet-stream', digest: sha(input) },
        {
          path: 'run/meta.json',
          role: 'metadata',
          mediaType: 'application/json',
          content: Buffer.from('{"run":1}').toString('base64'),
        },
      ],
    };
    const sealed = await h.call('acme', 'POST', '/evidence/snapshot', { json: body });
    assert.equal(sealed.status, 201, await sealed.clone().text());
    const { bundleId } = (await sealed.json()) as { bundleId: string };

    const d1 = Buffer.from(await (await h.call('acme', 'GET', `/evidence/${bundleId}/download`)).arrayBuffer());
    const d2 = Buffer.from(await (await h.call('acme', 'GET', `/evidence/${bundleId}/download`)).arrayBuffer());
    assert.ok(d1.equals(d2), 'downloads are identical');
    // The bytes in the bucket, read without our driver.
    const archiveKey = `evidence/acme/bundles/${bundleId}.tgz`;
    const stored = Buffer.from(
      await (await raw.send(new GetObjectCommand({ Bucket: bucket, Key: archiveKey }))).Body!.transformToByteArray(),
    );
    assert.ok(stored.equals(d1));
    const report = await verifyBundle(d1);
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    const byId = (await (await h.call('acme', 'POST', '/evidence/verify', { json: { bundleId } })).json()) as {
      ok: boolean;
    };
    assert.equal(byId.ok, true);
    // GNU tar reads it, and the artifact inside is the uploaded blob.
    const tgz = join(dir.path, 'bundle.tgz');
    await writeFile(tgz, d1);
    const listed = await run('tar', ['-tzf', tgz]);
    assert.ok(listed.stdout.toString().split('\n').includes('artifacts/export/data.bin'), listed.stdout.toString());
    const extracted = await run('tar', ['-xzOf', tgz, 'artifacts/export/data.bin']);
    assert.equal(sha(extracted.stdout), sha(input));

    // A legal hold is an Object Lock hold on the stored version: S3 itself refuses to delete it.
    assert.equal(
      (await h.call('acme', 'POST', '/evidence/hold/case-s3', { json: { reason: 'audit', bundleIds: [bundleId] } }))
        .status,
      201,
    );
    const lh = await raw.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: archiveKey }));
    assert.equal(lh.LegalHold?.Status, 'ON');
    const version = (await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: archiveKey }))).VersionId;
    await assert.rejects(raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: archiveKey, VersionId: version })));
    assert.equal((await h.call('acme', 'DELETE', '/evidence/hold/case-s3', { json: { reason: 'done' } })).status, 200);
    assert.equal(
      (await raw.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: archiveKey }))).LegalHold?.Status,
      'OFF',
    );

    // The sweeper on S3: an object no row names (as a killed writer leaves) and a staging leftover go;
    // the bundle, its blobs and an unreferenced but held object stay.
    const orphan = randomBytes(1000);
    const orphanKey = `evidence/acme/blobs/sha256/${sha(orphan).slice(7)}`;
    await h.rt.store.put(orphanKey, orphan);
    const heldOrphan = randomBytes(1001);
    const heldKey = `evidence/acme/blobs/sha256/${sha(heldOrphan).slice(7)}`;
    await h.rt.store.put(heldKey, heldOrphan, { legalHold: true });
    await raw.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: '~stella/staging/crashed',
        Body: 'partial',
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    await new Promise((r) => setTimeout(r, 1100));
    const swept = await sweepEvidence(h.rt.db, h.rt.store, { olderThanMs: 1000 });
    assert.deepEqual(swept.removed, [orphanKey]);
    assert.deepEqual(swept.retained, [heldKey]);
    assert.ok(
      swept.staging.some((s) => s.includes('~stella/staging/crashed')),
      JSON.stringify(swept.staging),
    );
    assert.equal(await h.rt.store.exists(orphanKey), false);
    assert.equal(
      (
        await verifyBundle(
          Buffer.from(await (await h.call('acme', 'GET', `/evidence/${bundleId}/download`)).arrayBuffer()),
        )
      ).ok,
      true,
    );
    await h.rt.store.setLegalHold(heldKey, false);
  });
});
