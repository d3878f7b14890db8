import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { assertRejectsStella, freePort, inCI } from '@stella/testkit';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.js';
import { motoUnavailable, startMotoServer, type MotoServer } from './testing/moto-server.js';
import { objectStoreContract, patternChunks } from './testing/object-store-contract.js';

const missing = motoUnavailable();
if (missing && inCI) throw new Error(`${missing} (required in CI)`);

let serverP: Promise<MotoServer> | undefined;
const server = () => (serverP ??= startMotoServer());
after(async () => {
  if (serverP) await (await serverP).stop();
});

async function makeStore(objectLock: boolean, extra: Partial<S3ObjectStoreOptions> = {}) {
  const srv = await server();
  const bucket = await srv.createBucket({ objectLock });
  const store = new S3ObjectStore({
    bucket,
    endpoint: srv.endpoint,
    region: srv.region,
    credentials: srv.credentials,
    partSize: 5 * 1024 * 1024,
    ...extra,
  });
  return { store, bucket, srv };
}

/** Replace an object's bytes with a raw PutObject that keeps the driver's recorded digest. */
async function contractTarget(objectLock: boolean) {
  const { store, bucket, srv } = await makeStore(objectLock);
  const raw = new S3Client({
    endpoint: srv.endpoint,
    region: srv.region,
    credentials: srv.credentials,
    forcePathStyle: true,
  });
  return {
    store,
    async tamper(key: string, bytes: Buffer) {
      const h = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, Metadata: h.Metadata }));
    },
    async cleanup() {
      raw.destroy();
      await store.close();
    },
  };
}

objectStoreContract('s3 (moto, Object Lock bucket)', () => contractTarget(true), { skip: missing });

objectStoreContract('s3 (moto, plain bucket, metadata WORM fallback)', () => contractTarget(false), {
  skip: missing,
});

describe('s3 object store specifics', { skip: missing }, () => {
  let raw: S3Client;
  let srv: MotoServer;
  before(async () => {
    srv = await server();
    raw = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      credentials: srv.credentials,
      forcePathStyle: true,
    });
  });
  after(() => raw?.destroy());

  test('WORM mode is detected per bucket', async () => {
    const a = await makeStore(true);
    const b = await makeStore(false);
    assert.equal(await a.store.worm(), 'object-lock');
    assert.equal(await b.store.worm(), 'metadata');
    await a.store.close();
    await b.store.close();
  });

  test('Object Lock is real: the server itself refuses to delete a retained version', async () => {
    const { store, bucket } = await makeStore(true);
    await store.put('locked/x', Buffer.from('x'), { retainUntil: new Date(Date.now() + 60_000) });
    const h = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'locked/x' }));
    assert.equal(h.ObjectLockMode, 'COMPLIANCE');
    assert.ok(h.ObjectLockRetainUntilDate);
    await assert.rejects(
      raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'locked/x', VersionId: h.VersionId })),
      { name: 'AccessDenied' },
    );
    await store.put('held/x', Buffer.from('x'), { legalHold: true });
    const h2 = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'held/x' }));
    assert.equal(h2.ObjectLockLegalHoldStatus, 'ON');
    await assert.rejects(
      raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'held/x', VersionId: h2.VersionId })),
      { name: 'AccessDenied' },
    );
    await store.close();
  });

  test('no staging objects, versions or multipart uploads survive failures; overwrites keep one version', async () => {
    const { store, bucket } = await makeStore(true);
    async function* failing() {
      yield randomBytes(7 * 1024 * 1024);
      throw new Error('dropped');
    }
    await assert.rejects(store.put('f/a', failing()), /dropped/);
    await assertRejectsStella(
      store.put('f/b', Readable.from([randomBytes(6 * 1024 * 1024)]), { expectedDigest: `sha256:${'1'.repeat(64)}` }),
      'OBJECT_DIGEST_MISMATCH',
    );
    await assertRejectsStella(
      store.put('f/c', Readable.from(patternChunks(11 * 1024 * 1024)), { size: 10 * 1024 * 1024 }),
      'OBJECT_SIZE_MISMATCH',
    );
    await store.put('f/d', Buffer.from('1'));
    await store.put('f/d', Buffer.from('2'));
    await store.put('f/d', Buffer.from('3'));
    const v = await raw.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    assert.deepEqual(
      [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])].map((x) => x.Key),
      ['f/d'],
    );
    const mp = await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.deepEqual(mp.Uploads ?? [], []);
    await store.delete('f/d');
    const v2 = await raw.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    assert.deepEqual([...(v2.Versions ?? []), ...(v2.DeleteMarkers ?? [])], []);
    await store.close();
  });

  test('large objects are published with multipart copy (UploadPartCopy), lock headers included', async () => {
    const { store, bucket } = await makeStore(true, {
      multipartCopyThreshold: 6 * 1024 * 1024,
      copyPartSize: 5 * 1024 * 1024,
    });
    const total = 13 * 1024 * 1024 + 7;
    const h = createHash('sha256');
    for (const c of patternChunks(total, 1 << 20, 9)) h.update(c);
    const r = await store.put('mp/big', Readable.from(patternChunks(total, 1 << 20, 9)), {
      legalHold: true,
      contentType: 'application/x-big',
    });
    assert.equal(r.digest, `sha256:${h.digest('hex')}`);
    const head = await store.head('mp/big');
    assert.equal(head.size, total);
    assert.equal(head.legalHold, true);
    assert.equal(head.digest, r.digest);
    assert.equal(head.contentType, 'application/x-big');
    const h2 = createHash('sha256');
    for await (const c of (await store.get('mp/big')).body) h2.update(c as Buffer);
    assert.equal(`sha256:${h2.digest('hex')}`, r.digest);
    const raw2 = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mp/big' }));
    assert.equal(raw2.ObjectLockLegalHoldStatus, 'ON');
    await store.close();
  });

  test('sweepAbandoned removes old staging objects and multipart uploads, nothing else', async () => {
    for (const objectLock of [true, false]) {
      const { store, bucket } = await makeStore(objectLock);
      await store.put('keep/me', Buffer.from('visible'));
      // What a crash between upload and cleanup leaves: a staging object and an open upload.
      await raw.send(new PutObjectCommand({ Bucket: bucket, Key: '~stella/staging/crashed', Body: 'partial' }));
      assert.deepEqual((await store.sweepAbandoned({ olderThanMs: 3_600_000 })).removed, [], 'young leftovers stay');
      // Created after the young sweep: moto reports every upload as initiated 2010-11-10 (a
      // constant in its ListMultipartUploads response), so a young upload cannot be shown here.
      const mpu = await raw.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: '~stella/staging/crashed-mpu' }),
      );
      // Seen from an hour later, they are abandoned.
      const later = new S3ObjectStore({
        bucket,
        endpoint: srv.endpoint,
        region: srv.region,
        credentials: srv.credentials,
        now: () => Date.now() + 2 * 3_600_000,
      });
      const { removed } = await later.sweepAbandoned({ olderThanMs: 3_600_000 });
      assert.deepEqual(removed.sort(), [
        '~stella/staging/crashed',
        `~stella/staging/crashed-mpu (multipart upload ${mpu.UploadId})`,
      ]);
      const v = await raw.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      assert.deepEqual(
        [...(v.Versions ?? []), ...(v.DeleteMarkers ?? [])].map((x) => x.Key),
        ['keep/me'],
        `objectLock=${objectLock}`,
      );
      assert.deepEqual((await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [], []);
      assert.equal((await buffer((await store.get('keep/me')).body)).toString(), 'visible');
      await later.close();
      await store.close();
    }
  });

  test('a get racing an overwrite serves the new object, not a false OBJECT_CORRUPT (unversioned bucket)', async () => {
    const { store: writer, bucket } = await makeStore(false);
    await writer.put('race/k', Buffer.from('old bytes'));
    const client = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      credentials: srv.credentials,
      forcePathStyle: true,
    });
    // Overwrite the object between the reader's HEAD and its GET.
    let raced = false;
    client.middlewareStack.add(
      (next, ctx) => async (args) => {
        if ((ctx as { commandName?: string }).commandName === 'GetObjectCommand' && !raced) {
          raced = true;
          await writer.put('race/k', Buffer.from('new bytes, longer'));
        }
        return next(args);
      },
      { step: 'initialize', name: 'raceOverwrite' },
    );
    const reader = new S3ObjectStore({ bucket, client });
    const g = await reader.get('race/k');
    assert.equal(raced, true);
    assert.equal((await buffer(g.body)).toString(), 'new bytes, longer');
    assert.equal(g.digest, `sha256:${createHash('sha256').update('new bytes, longer').digest('hex')}`);
    await reader.close();
    client.destroy();
    await writer.close();
  });

  test('verify on read: an object without the recorded digest is refused; verifyOnRead: false opts out', async () => {
    const { store, bucket, srv: s2 } = await makeStore(false);
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw/put', Body: 'not written by the driver' }));
    await assertRejectsStella(store.get('raw/put'), 'OBJECT_CORRUPT');
    const trusting = new S3ObjectStore({
      bucket,
      endpoint: s2.endpoint,
      region: s2.region,
      credentials: s2.credentials,
      verifyOnRead: false,
    });
    assert.equal((await buffer((await trusting.get('raw/put')).body)).toString(), 'not written by the driver');
    await trusting.close();
    await store.close();
  });

  test('metadata mode keeps WORM state in user metadata (documented fallback)', async () => {
    const { store, bucket } = await makeStore(false);
    await store.put('m/x', Buffer.from('x'), { legalHold: true, retainUntil: new Date(Date.now() + 60_000) });
    const h = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'm/x' }));
    assert.equal(h.Metadata?.['stella-legal-hold'], 'ON');
    assert.ok(h.Metadata?.['stella-retain-until']);
    assert.equal(h.Metadata?.['stella-sha256'], createHash('sha256').update('x').digest('hex'));
    await store.close();
  });

  test('ping and operations fail with OBJECT_STORE_UNAVAILABLE on a missing bucket or a closed port', async () => {
    const noBucket = new S3ObjectStore({
      bucket: 'no-such-bucket-here',
      endpoint: srv.endpoint,
      credentials: srv.credentials,
    });
    await assertRejectsStella(noBucket.ping(), 'OBJECT_STORE_UNAVAILABLE');
    await noBucket.close();
    const port = await freePort();
    const closed = new S3ObjectStore({
      bucket: 'any-bucket',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: srv.credentials,
      worm: 'metadata',
      client: undefined,
    });
    await assertRejectsStella(closed.ping(), 'OBJECT_STORE_UNAVAILABLE');
    await assertRejectsStella(closed.head('x'), 'OBJECT_STORE_UNAVAILABLE');
    await assertRejectsStella(closed.put('x', Buffer.from('x')), 'OBJECT_STORE_UNAVAILABLE');
    await closed.close();
    assert.throws(() => new S3ObjectStore({ bucket: 'Bad_Bucket' }), { code: 'CONFIG_INVALID' });
  });

  test('upload memory is bounded by part size: 64 MiB through the store, RSS grows < 96 MiB', async (t) => {
    const { store } = await makeStore(false);
    const total = 64 * 1024 * 1024;
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const r = await store.put('mem/big', Readable.from(patternChunks(total, 1 << 20, 5)), { size: total });
      assert.equal(r.size, total);
    } finally {
      clearInterval(timer);
    }
    const growth = (peak - base) / 1024 / 1024;
    t.diagnostic(
      `RSS growth ${growth.toFixed(1)} MiB for a ${total / 1024 / 1024} MiB upload (partSize 5 MiB, queueSize 2)`,
    );
    assert.ok(growth < 96, `RSS grew by ${growth.toFixed(1)} MiB`);
    await store.delete('mem/big');
    await store.close();
  });
});
