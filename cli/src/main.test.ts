import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './testing/run-cli.js';
import { spawnCli } from './testing/spawn-cli.js';

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

describe('CLI conventions (issue 7 point 6), through the real process', () => {
  test('stella --version prints the version and exits 0', async () => {
    const r = await spawnCli(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^stella \d+\.\d+\.\d+ \(node v\d+/);
  });

  test('stella <group> --help lists the group; a bare group is a usage error', async () => {
    const help = await spawnCli(['auth', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: stella auth <command>/);
    assert.match(help.stdout, /auth token\s+Mint a dev bearer token/);
    assert.match(help.stdout, /auth jwks\s+/);
    const bare = await runCli(['keys']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /keys generate/);
    // A command that is also a group lists its subcommands under its own help.
    const migrate = await runCli(['migrate', '--help']);
    assert.match(migrate.stdout, /Subcommands:\n {2}migrate plan/);
  });

  test('option descriptions start in one column, however long the flag', async () => {
    const r = await runCli(['dsse', 'sign', '--help']);
    const lines = r.stdout.split('\n').filter((l) => /^ {2}(-\w, | {4})--/.test(l));
    assert.ok(lines.some((l) => l.includes('--format <dsse|sigstore-bundle>')));
    const columns = new Set(lines.map((l) => /^\s*\S.*?\s{2,}(?=\S)/.exec(l)![0].length));
    assert.equal(columns.size, 1, lines.join('\n'));
  });

  test('an unknown option is named with balanced quotes and exits 2', async () => {
    const r = await spawnCli(['dsse', 'sign', '--bogus']);
    assert.equal(r.code, 2);
    const first = r.stderr.split('\n')[0]!;
    assert.match(first, /^stella dsse sign: unknown option '--bogus'/);
    assert.equal((first.match(/'/g) ?? []).length % 2, 0, first);
    assert.equal((first.match(/"/g) ?? []).length % 2, 0, first);
  });
});
