// The committed reference docs must equal what their single sources generate (issue #2 items 2
// and 6; DESIGN.md §3 "kept in sync by a test", "checked in CI for drift").
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, run } from '@stella/testkit';
import { ERROR_CODES } from '@stella/core/errors';
import { CONFIG_VARIABLES } from '@stella/platform/config';

const HINT = 'run `npm run docs` and commit the result';

describe('generated docs are in sync', () => {
  test('docs/errors.md lists every registry code with its status', async () => {
    const text = await readFile(join(repoRoot, 'docs/errors.md'), 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.match(
        text,
        new RegExp(`^\\| \`${code}\` +\\| ${status} +\\|`, 'm'),
        `${code} missing from docs/errors.md: ${HINT}`,
      );
    }
  });

  test('docs/config.md lists every variable', async () => {
    const text = await readFile(join(repoRoot, 'docs/config.md'), 'utf8');
    for (const v of CONFIG_VARIABLES) {
      assert.match(text, new RegExp(`^\\| \`${v.name}\` +\\|`, 'm'), `${v.name} missing from docs/config.md: ${HINT}`);
    }
  });

  // The authoritative check: byte equality of every generated file (the other tests say which
  // entry is missing, this one catches any other drift).
  test('scripts/gen-docs.ts --check passes (openapi.json, config.md, errors.md)', async () => {
    const r = await run(
      process.execPath,
      ['--conditions=development', '--import', 'tsx', 'scripts/gen-docs.ts', '--check'],
      { cwd: repoRoot, timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, `${r.stderr.toString()}\n${HINT}`);
    const doc = JSON.parse(await readFile(join(repoRoot, 'docs/openapi.json'), 'utf8'));
    assert.equal(doc.openapi, '3.1.0');
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
    assert.equal(doc.info.version, pkg.version);
  });
});
