import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_VARIABLES } from '@stella/platform/config';
import { runCli } from '../testing/run-cli.js';
import { configFlagOptions } from './server-config.js';

test('serve and migrate flags come from the config table, each naming the variable it overrides', async () => {
  const flagged = CONFIG_VARIABLES.filter((v) => 'flag' in v && v.flag);
  const options = configFlagOptions();
  assert.deepEqual(
    Object.entries(options).map(([name, o]) => [`--${name}`, o.env]),
    flagged.map((v) => [(v as { flag: string }).flag, v.name]),
  );
  // The help line is the description's first sentence, never cut inside parentheses.
  assert.equal(options.services!.description.includes('(default: every registered service;'), true);
  const help = await runCli(['serve', '--help']);
  for (const v of flagged)
    assert.match(help.stdout, new RegExp(`--${(v as { flag: string }).flag.slice(2)} .*\\(env: ${v.name}\\)`));
  const migrate = await runCli(['migrate', '--help']);
  for (const name of ['STELLA_DATABASE_URL', 'STELLA_DATA_DIR'])
    assert.match(migrate.stdout, new RegExp(`env: ${name}`));
  assert.doesNotMatch(migrate.stdout, /STELLA_HTTP_PORT/);
});
