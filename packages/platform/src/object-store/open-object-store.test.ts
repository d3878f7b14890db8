import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { tempDir } from '@stella/testkit';
import { FsObjectStore } from './fs-object-store.js';
import { openObjectStore } from './open-object-store.js';
import { S3ObjectStore } from './s3-object-store.js';

const code = (fn: () => unknown) => {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('openObjectStore', () => {
  test('file:///abs/path opens a working fs store', async () => {
    const dir = await tempDir();
    try {
      const s = openObjectStore(pathToFileURL(dir.path).href);
      assert.ok(s instanceof FsObjectStore);
      await s.ping();
      const r = await s.put('a/b', Buffer.from('hi'));
      assert.equal(r.size, 2);
      await s.close();
    } finally {
      await dir.cleanup();
    }
  });

  test('s3://bucket?endpoint=… builds an S3 store with path-style addressing', () => {
    const s = openObjectStore('s3://evidence-bucket?endpoint=http://127.0.0.1:9000&region=eu-west-1&worm=object-lock', {
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    });
    assert.ok(s instanceof S3ObjectStore);
    assert.equal((s as S3ObjectStore).bucket, 'evidence-bucket');
    assert.equal(s.driver, 's3');
  });

  test('bad URLs are CONFIG_INVALID and never echo credentials', () => {
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
    for (const u of bad)
      assert.equal(
        code(() => openObjectStore(u)),
        'CONFIG_INVALID',
        u,
      );
    try {
      openObjectStore('s3://AKIA:supersecret@bucket');
      assert.fail('accepted credentials in the URL');
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'CONFIG_INVALID');
      assert.ok(!JSON.stringify((e as { details?: unknown }).details).includes('supersecret'));
      assert.ok(!(e as Error).message.includes('supersecret'));
    }
    assert.equal(
      code(() => openObjectStore('s3://bucket', { credentials: { accessKeyId: '', secretAccessKey: 'x' } })),
      'CONFIG_INVALID',
    );
  });
});
