import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StellaError, isStellaError, ERROR_CODES } from '@stella/core/errors';

test('StellaError carries its registry code and HTTP status', () => {
  const e = new StellaError('MERKLE_INDEX_OUT_OF_RANGE', 'index 5 >= size 3', { details: { index: 5 } });
  assert.equal(e.code, 'MERKLE_INDEX_OUT_OF_RANGE');
  assert.equal(e.statusCode, 400);
  assert.ok(isStellaError(e, 'MERKLE_INDEX_OUT_OF_RANGE'));
  assert.ok(!isStellaError(new Error('x')));
  for (const [code, v] of Object.entries(ERROR_CODES)) assert.match(code, /^[A-Z][A-Z0-9_]+$/, v.description);
});
