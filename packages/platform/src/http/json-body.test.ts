import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JSON_BODY_MAX_DEPTH, nestingExceeds } from './json-body.js';

const bytes = (s: string) => Buffer.from(s);
const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('nestingExceeds (the depth guard in front of parseJson)', () => {
  test('counts arrays and objects up to the limit, and refuses one more', () => {
    assert.equal(nestingExceeds(bytes(nested(JSON_BODY_MAX_DEPTH)), JSON_BODY_MAX_DEPTH), false);
    assert.equal(nestingExceeds(bytes(nested(JSON_BODY_MAX_DEPTH + 1)), JSON_BODY_MAX_DEPTH), true);
    assert.equal(nestingExceeds(bytes('{"a":{"b":[{}]}}'), 4), false);
    assert.equal(nestingExceeds(bytes('{"a":{"b":[{}]}}'), 3), true);
    // Siblings do not add up: depth, not count.
    assert.equal(nestingExceeds(bytes(`[${Array(1000).fill('[]').join(',')}]`), 2), false);
  });

  test('brackets inside strings, including after escaped quotes and backslashes, are not nesting', () => {
    assert.equal(nestingExceeds(bytes(JSON.stringify({ a: '['.repeat(500) })), 2), false);
    assert.equal(nestingExceeds(bytes(JSON.stringify({ a: '\\"[[[[[["' })), 1), false);
    assert.equal(nestingExceeds(bytes(JSON.stringify(['\\', [[['x']]]])), 3), true);
  });

  test('100,000 levels are refused without recursion', () => {
    assert.equal(nestingExceeds(bytes(nested(100_000)), JSON_BODY_MAX_DEPTH), true);
  });
});
