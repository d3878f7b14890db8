import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertStellaError } from '@stella/testkit';
import { parseByteRange } from './byte-range.js';

test('one Range: bytes=a-b and bytes=a- are served; other forms mean the whole body; past the end is 416', () => {
  assert.equal(parseByteRange(undefined, 10), undefined);
  assert.deepEqual(parseByteRange('bytes=2-4', 10), { start: 2, end: 4 });
  assert.deepEqual(parseByteRange('bytes=7-', 10), { start: 7, end: 9 });
  assert.deepEqual(parseByteRange('bytes=0-99', 10), { start: 0, end: 9 }, 'an end past the size is clipped');
  for (const other of ['bytes=-3', 'bytes=0-1,4-5', 'items=0-1', 'bytes=a-b'])
    assert.equal(parseByteRange(other, 10), undefined, other);
  for (const bad of ['bytes=10-', 'bytes=5-2'])
    assertStellaError(() => parseByteRange(bad, 10), 'OBJECT_RANGE_INVALID');
});
