import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { generateSdkTypes } from './generate-types.js';

test('generated SDK types match docs/openapi.json (run `npm run docs` if this fails)', async () => {
  const doc = JSON.parse(await readFile(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as object;
  const committed = await readFile(new URL('./generated/openapi.ts', import.meta.url), 'utf8');
  assert.equal(committed, await generateSdkTypes(doc));
});
