// Regenerates packages/sdk/src/generated/openapi.ts from docs/openapi.json (run by `npm run docs`).
import { readFile, writeFile } from 'node:fs/promises';
import { generateSdkTypes } from '../packages/sdk/src/generate-types.js';

const root = new URL('..', import.meta.url);
const doc = JSON.parse(await readFile(new URL('docs/openapi.json', root), 'utf8')) as object;
await writeFile(new URL('packages/sdk/src/generated/openapi.ts', root), await generateSdkTypes(doc));
console.log('wrote packages/sdk/src/generated/openapi.ts');
