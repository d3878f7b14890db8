import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from './duration.js';

test('retention durations: fixed-length ISO 8601 parts only, positive, one canonical spelling', () => {
  for (const [text, seconds] of [
    ['P30D', 30 * 86_400],
    ['PT1S', 1],
    ['PT12H', 12 * 3600],
    ['P1DT2H3M4S', 86_400 + 7384],
    ['PT90M', 5400],
  ] as const)
    assert.equal(parseDuration(text), seconds, text);
  for (const bad of ['', 'P', 'PT', '-P1D', 'P1M', 'P1Y', 'P1W', 'PT0S', 'P0D', 'P1.5D', '30d', 'P1DT'])
    assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(formatDuration(5400), 'PT1H30M');
  assert.equal(formatDuration(86_400 + 1), 'P1DT1S');
  for (const s of [1, 59, 3600, 86_399, 31_536_000]) assert.equal(parseDuration(formatDuration(s)), s);
});
