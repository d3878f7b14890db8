import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { goHarness, needGo, run } from './index.js';

describe('Go interop harnesses (testkit)', { skip: needGo() }, () => {
  test('builds a harness once, caches it by content, and runs it', async () => {
    const bin = await goHarness('go-version');
    assert.equal(await goHarness('go-version'), bin, 'second call reuses the build');
    const r = await run(bin, []);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.match(r.stdout.toString(), /^go1\.\d+/);
  });

  test('an unknown harness name is refused before any build', async () => {
    await assert.rejects(goHarness('no-such-harness'), /no Go harness interop\/cmd\/no-such-harness/);
    await assert.rejects(goHarness('../etc'), /no Go harness/);
  });
});
