import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { assertStellaError, tempDir } from '@stella/testkit';
import { loadConfig, parseObjectStoreUri, ConfigProblem } from '../config/index.js';
import { FsObjectStore } from './fs-object-store.js';
import { openObjectStore } from './open-object-store.js';
import { S3ObjectStore } from './s3-object-store.js';
import { motoUnavailable, startMotoServer } from './testing/moto-server.js';

describe('openObjectStore(parsed STELLA_OBJECT_STORE)', () => {
  test('file:///abs/path opens a working fs store', async () => {
    const dir = await tempDir();
    try {
      const s = openObjectStore(parseObjectStoreUri(pathToFileURL(dir.path).href));
      assert.ok(s instanceof FsObjectStore);
      await s.ping();
      const r = await s.put('a/b', Buffer.from('hi'));
      assert.equal(r.size, 2);
      await s.close();
    } finally {
      await dir.cleanup();
    }
  });

  test('s3://bucket?endpoint=…&worm=…&lockMode=… builds the S3 store the URI describes', () => {
    const config = loadConfig({
      STELLA_OBJECT_STORE:
        's3://evidence-bucket?endpoint=http://127.0.0.1:9000&region=eu-west-1&worm=object-lock&lockMode=GOVERNANCE',
      STELLA_S3_ACCESS_KEY_ID: 'k',
      STELLA_S3_SECRET_ACCESS_KEY: 's',
    });
    assert.deepEqual(config.objectStore, {
      kind: 's3',
      bucket: 'evidence-bucket',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      worm: 'object-lock',
      lockMode: 'GOVERNANCE',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    });
    const s = openObjectStore(config.objectStore);
    assert.ok(s instanceof S3ObjectStore);
    assert.equal(s.bucket, 'evidence-bucket');
    assert.equal(s.driver, 's3');
    assert.deepEqual(parseObjectStoreUri('s3://b-1?forcePathStyle=false'), {
      kind: 's3',
      bucket: 'b-1',
      region: 'us-east-1',
      forcePathStyle: false,
      worm: 'auto',
      lockMode: 'COMPLIANCE',
    });
  });

  test(
    'the S3 store opened from loadConfig (deep-frozen credentials) talks to a real server',
    { skip: motoUnavailable() },
    async () => {
      const moto = await startMotoServer();
      try {
        const bucket = await moto.createBucket();
        const config = loadConfig({
          STELLA_OBJECT_STORE: `s3://${bucket}?endpoint=${moto.endpoint}&region=${moto.region}`,
          STELLA_S3_ACCESS_KEY_ID: moto.credentials.accessKeyId,
          STELLA_S3_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
        });
        assert.ok(Object.isFrozen(config.objectStore.kind === 's3' && config.objectStore.credentials));
        // The AWS SDK tags the credentials object it is handed; a frozen one used to fail every call.
        const s = openObjectStore(config.objectStore);
        await s.put('a/b', Buffer.from('hi'));
        assert.equal((await s.head('a/b')).size, 2);
        await s.close();
      } finally {
        await moto.stop();
      }
    },
  );

  test('bad URIs are problems of STELLA_OBJECT_STORE and never echo credentials', () => {
    const bad = [
      'not a url',
      'file://host/abs',
      'file:///abs?x=1',
      'ftp://x/y',
      's3://',
      's3://bucket/path',
      's3://bucket?endpoint=nope',
      's3://bucket?endpoint=ftp://x',
      's3://bucket?worm=maybe',
      's3://bucket?lockMode=SOFT',
      's3://bucket?forcePathStyle=yes',
      's3://bucket?unknown=1',
      's3://Bad_Bucket',
    ];
    for (const u of bad) assert.throws(() => parseObjectStoreUri(u), ConfigProblem, u);
    const err = assertStellaError(
      () => loadConfig({ STELLA_OBJECT_STORE: 's3://AKIA:supersecret@bucket' }),
      'CONFIG_INVALID',
    );
    assert.ok(!err.message.includes('supersecret'), err.message);
    assert.ok(!JSON.stringify(err.details).includes('supersecret'));
  });
});
