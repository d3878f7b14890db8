// `stella oci push` against Debian's docker-registry on loopback (htpasswd): skopeo reads back the
// layout's manifest bytes; missing credentials and a missing tag are refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildManifest, descriptorFor, emptyJsonBytes } from '@stella/core/oci';
import { writeOciLayout } from '@stella/platform/oci-layout';
import { needTool, run, startDockerRegistry, tempDir, type DockerRegistry } from '@stella/testkit';
import { runCli } from '../testing/run-cli.js';

const skip = needTool('docker-registry') || needTool('skopeo');

describe('stella oci push', { skip, timeout: 120_000 }, () => {
  let reg: DockerRegistry;
  let dir: { path: string; cleanup: () => Promise<void> };
  let layout: string;
  let bytes: Uint8Array;
  before(async () => {
    dir = await tempDir('stella-cli-oci-');
    reg = await startDockerRegistry({ auth: { username: 'tester', password: 's3cret' } });
    const content = randomBytes(4000);
    const m = buildManifest({
      artifactType: 'application/vnd.aquasec.trivy.config.v1+json',
      layers: [descriptorFor(content, 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip', { title: 'db.tar.gz' })],
    });
    bytes = m.bytes;
    layout = join(dir.path, 'oci');
    await writeOciLayout(layout, {
      blobs: [{ bytes: emptyJsonBytes() }, { bytes: content }],
      manifests: [{ bytes: m.bytes, refName: '2' }],
    });
  });
  after(async () => {
    await reg?.stop();
    await dir?.cleanup();
  });

  test('pushes with Basic auth; skopeo sees the same manifest bytes', async () => {
    const env = { ...process.env, STELLA_REGISTRY_PASSWORD: 's3cret' };
    const r = await runCli(
      ['oci', 'push', '--plain-http', '--username', 'tester', layout, `${reg.host}/aquasec/trivy-db`],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /Pushed .*:2 to 127\.0\.0\.1:\d+\/aquasec\/trivy-db:2 — sha256:[0-9a-f]{64} \(2 blobs uploaded, 0 already there\)/,
    );
    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      'tester:s3cret',
      `docker://${reg.host}/aquasec/trivy-db:2`,
    ]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(bytes)));
  });

  test('no credentials → exit 1 with OCI_REGISTRY_AUTH; an unknown layout tag → exit 1; a bad reference → exit 1', async () => {
    const env = { ...process.env, STELLA_REGISTRY_PASSWORD: '' };
    const noAuth = await runCli(['oci', 'push', '--plain-http', layout, `${reg.host}/x:2`], { env });
    assert.equal(noAuth.code, 1);
    assert.match(noAuth.stderr, /none were given/);
    const noTag = await runCli(['oci', 'push', '--plain-http', '--ref', 'latest', layout, `${reg.host}/x:2`], { env });
    assert.equal(noTag.code, 1);
    assert.match(noTag.stderr, /no manifest tagged "latest"/);
    const bad = await runCli(['oci', 'push', layout, 'trivy-db:2'], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /registry host/);
  });
});
