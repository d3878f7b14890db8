// Builds the Go interop harnesses (interop/cmd/*) and the real trivy CLI (interop/trivy) into
// interop/.bin before the tests, so parallel test files find them built instead of all compiling
// at once (.ci/run; interop/README.md). Cached by content hash: a no-op when nothing changed.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { goHarness, interopDir, needGo, trivyBinary } from '@stella/testkit';

const skip = needGo();
if (skip) {
  console.error(`build-interop: ${skip}`);
  process.exit(0);
}
const started = Date.now();
for (const name of readdirSync(join(interopDir, 'cmd')).sort()) {
  console.log(`build-interop: ${await goHarness(name)}`);
}
console.log(`build-interop: ${await trivyBinary()}`);
console.log(`build-interop: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
