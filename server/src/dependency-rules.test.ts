/**
 * The dependency rules are mechanical (DESIGN.md §2; issue #6 item 5): the lint configuration
 * refuses a wrong import wherever it appears. Each probe is linted as if it were a file at that
 * path, with the repository's own eslint.config.js.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { repoRoot } from '@stella/testkit';

const eslint = new ESLint({ cwd: repoRoot });

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test('production code never imports test support; tests may', async () => {
  const probes: [string, string][] = [
    ['packages/platform/src/db/probe.ts', "import { busContract } from '../bus/testing/bus-contract.js';"],
    ['packages/core/src/merkle/probe.ts', "import { x } from '../canonical-json/parse-json-testing.js';"],
    ['services/export-center/src/probe.ts', "import { y } from '@stella/platform/object-store/testing';"],
    ['server/src/probe.ts', "import { y } from '@stella/platform/testing';"],
    ['cli/src/commands/probe.ts', "import { runCli } from '../testing/run-cli.js';"],
  ];
  for (const [file, code] of probes) {
    const messages = await restricted(file, `${code}\nexport {};\n`);
    assert.ok(
      messages.some((m) => /test support is for tests only/.test(m)),
      `${file}: ${messages.join('; ')}`,
    );
  }
  assert.deepEqual(
    await restricted(
      'packages/platform/src/db/probe.test.ts',
      "import { busContract } from '../bus/testing/bus-contract.js';\nexport {};\n",
    ),
    [],
  );
});

test('the layers: core has no I/O, platform no services, services not each other, testkit only in tests', async () => {
  const probes: [string, string, RegExp][] = [
    ['packages/core/src/merkle/probe.ts', "import { readFile } from 'node:fs/promises';", /no I\/O/],
    ['packages/core/src/merkle/probe.ts', "import { openDb } from '@stella/platform/db';", /core depends on nothing/],
    [
      'packages/platform/src/db/probe.ts',
      "import { SERVICES } from '@stella/server';",
      /platform depends only on core/,
    ],
    ['services/export-center/src/probe.ts', "import { x } from '@stella/evidence-locker';", /never import each other/],
    ['server/src/probe.ts', "import { tempDir } from '@stella/testkit';", /testkit is for tests only/],
  ];
  for (const [file, code, want] of probes) {
    const messages = await restricted(file, `${code}\nexport {};\n`);
    assert.ok(
      messages.some((m) => want.test(m)),
      `${file} ${code}: ${messages.join('; ')}`,
    );
  }
});
