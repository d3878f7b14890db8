import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { createTokenVerifierFromConfig, ROLES } from '@stella/platform/auth';
import { buildApp } from '@stella/platform/http';
import { runCli } from '../testing/run-cli.js';
import { spawnCli } from '../testing/spawn-cli.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  dir = await tempDir('stella-cli-auth-');
});
after(() => dir.cleanup());

describe('stella auth token', () => {
  test('prints only a JWT that /v1/whoami of a server on the same data dir accepts', async () => {
    const env = { STELLA_DATA_DIR: dir.path };
    const r = await runCli(
      [
        'auth',
        'token',
        '--tenant',
        'acme',
        '--scope',
        'timeline:read export:run',
        '--ttl',
        '15m',
        '--subject',
        'ci-bot',
        '--init',
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    assert.equal(r.stderr, '');

    // The server side, wired the way `stella serve` wires it: config → verifier → app.
    const config = loadConfig(env);
    const app = await buildApp({
      config,
      verifier: await createTokenVerifierFromConfig(config.auth, config.dataDir),
      version: '0.0.0',
      logger: false,
    });
    try {
      const res = await app.inject({
        url: '/v1/whoami',
        headers: { authorization: `Bearer ${r.stdout.trim()}`, 'x-stella-tenant': 'acme' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const who = JSON.parse(res.body);
      assert.deepEqual([who.tenant, who.subject, who.scopes], ['acme', 'ci-bot', ['timeline:read', 'export:run']]);
      const ttl = (Date.parse(who.expiresAt) - Date.now()) / 1000;
      assert.ok(ttl > 800 && ttl <= 900, `ttl ${ttl}`);
    } finally {
      await app.close();
    }
  });

  test('roles expand; --json gives the token with its claims; --data-dir and STELLA_TENANT are honoured', async () => {
    const r = await runCli(['auth', 'token', '--scope', 'operator', '--json', '--data-dir', dir.path], {
      env: { STELLA_TENANT: 'globex' },
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.tenant, 'globex');
    assert.deepEqual([...out.scopes].sort(), [...ROLES.operator].sort());
    assert.match(out.token, /^ey/);
    const jwks = await runCli(['auth', 'jwks', '--data-dir', dir.path], { env: {} });
    assert.equal(jwks.code, 0);
    assert.equal(JSON.parse(jwks.stdout).keys[0].crv, 'Ed25519');
  });

  test('refuses a data dir without an issuer, naming it, unless --init (run from another directory)', async () => {
    const elsewhere = await tempDir('stella-cli-auth-cwd-');
    try {
      const env = { ...process.env, STELLA_DATA_DIR: '' };
      const argv = ['auth', 'token', '--tenant', 'acme', '--scope', 'timeline:read'];
      const refused = await spawnCli(argv, { cwd: elsewhere.path, env });
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /^stella auth token: NOT_FOUND: no dev issuer in (\S+) /);
      assert.equal(/no dev issuer in (\S+) /.exec(refused.stderr)![1], join(elsewhere.path, '.stella'));
      assert.match(refused.stderr, /--data-dir/);
      assert.match(refused.stderr, /--init/);
      // Nothing was created: the next `stella serve` here is not handed a surprise issuer.
      assert.deepEqual(await readdir(elsewhere.path), []);
      const jwks = await spawnCli(['auth', 'jwks'], { cwd: elsewhere.path, env });
      assert.equal(jwks.code, 1);
      assert.match(jwks.stderr, /no dev issuer in /);

      const init = await spawnCli([...argv, '--init'], { cwd: elsewhere.path, env });
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, /^ey[\w-]+\.[\w-]+\.[\w-]+\n$/);
      // Once it exists, plain minting uses it.
      const again = await runCli(argv, { cwd: elsewhere.path, env: {} });
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await elsewhere.cleanup();
    }
  });

  test('usage errors exit 2 and print nothing on stdout', async () => {
    const env = { STELLA_DATA_DIR: dir.path };
    for (const argv of [
      ['auth', 'token', '--scope', 'timeline:read'], // no tenant
      ['auth', 'token', '--tenant', 'acme'], // no scope
      ['auth', 'token', '--tenant', 'acme', '--scope', 'timeline:read', '--ttl', 'forever'],
      ['auth', 'token', '--tenant', 'acme', '--scope', 'timeline:read', '--ttl', '0'],
      ['auth', 'token', '--tenant', 'acme', '--scope', 'timeline:destroy'],
      ['auth', 'token', '--tenant', '../etc', '--scope', 'timeline:read'],
      ['auth', 'token', '--tenant', 'acme', '--scope', 'timeline:read', 'extra'],
    ]) {
      const r = await runCli(argv, { env });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /stella auth token/);
    }
  });
});
