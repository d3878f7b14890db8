import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './testing/run-cli.js';

test('stella --help lists commands; unknown command is a usage error', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /version\s+Print the stella version/);
  const bad = await runCli(['no-such-thing']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command/);
});

test('stella version prints the package version, as JSON with --json', async () => {
  const r = await runCli(['version', '--json']);
  assert.equal(r.code, 0);
  assert.match(JSON.parse(r.stdout).version, /^\d+\.\d+\.\d+/);
  const bad = await runCli(['version', '--nope']);
  assert.equal(bad.code, 2);
});
