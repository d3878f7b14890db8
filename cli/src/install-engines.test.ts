// `npm ci` must install cleanly on every Node version package.json promises (issue 7 point 9):
// npm prints EBADENGINE for each locked package whose `engines.node` excludes the running Node,
// so the promised range must be a subset of every locked package's range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import semver from 'semver';

const root = new URL('../../', import.meta.url);

test('every locked package supports all Node versions the root engines field admits', async () => {
  const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8')) as {
    packages: Record<string, { version?: string; engines?: { node?: string } }>;
  };
  const promised = pkg.engines.node;
  const narrower = Object.entries(lock.packages)
    .filter(([, p]) => p.engines?.node !== undefined && !semver.subset(promised, p.engines.node))
    .map(([path, p]) => `${path}@${p.version} wants node ${p.engines!.node}`);
  assert.deepEqual(narrower, [], `package.json promises node ${promised}`);
});
