// The registry client against Debian's docker-registry 2.8 on loopback (plain and htpasswd Basic
// auth), with skopeo as the independent reader of what we push (DESIGN.md §5).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildManifest, descriptorFor, emptyConfigDescriptor, emptyJsonBytes } from '@stella/core/oci';
import { assertRejectsStella, needTool, run, startDockerRegistry, tempDir, type DockerRegistry } from '@stella/testkit';
import { readOciLayout, writeOciLayout } from '@stella/platform/oci-layout';
import {
  OciRegistryClient,
  parseAuthChallenges,
  parseOciReference,
  pushLayoutEntry,
} from '@stella/platform/oci-registry';

const skip = needTool('docker-registry') || needTool('skopeo');
const ARTIFACT = 'application/vnd.aquasec.trivy.config.v1+json';
const LAYER = 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip';
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function artifact(content: Buffer) {
  const layer = descriptorFor(content, LAYER, { title: 'db.tar.gz' });
  return buildManifest({
    artifactType: ARTIFACT,
    config: emptyConfigDescriptor({ withData: true }),
    layers: [layer],
    annotations: { 'org.opencontainers.image.created': '2026-11-27T04:00:00Z' },
  });
}

describe('references and challenges', () => {
  test('parseOciReference', () => {
    assert.deepEqual(parseOciReference('127.0.0.1:5000/aquasec/trivy-db:2'), {
      registry: '127.0.0.1:5000',
      repository: 'aquasec/trivy-db',
      tag: '2',
    });
    assert.deepEqual(parseOciReference(`localhost/a@${sha(Buffer.from('x'))}`), {
      registry: 'localhost',
      repository: 'a',
      digest: sha(Buffer.from('x')),
    });
    for (const bad of [
      'trivy-db:2',
      'aquasec/trivy-db',
      '127.0.0.1:5000/Upper',
      '127.0.0.1:5000/a:bad tag',
      'h.io/a@md5:x',
    ])
      assert.throws(() => parseOciReference(bad), { code: 'VALIDATION_FAILED' }, bad);
  });

  test('parseAuthChallenges', () => {
    assert.deepEqual(
      parseAuthChallenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push", Basic realm="x \\"y\\""',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example/token',
            service: 'registry.example',
            scope: 'repository:a/b:pull,push',
          },
        },
        { scheme: 'basic', params: { realm: 'x "y"' } },
      ],
    );
    assert.deepEqual(parseAuthChallenges(''), []);
  });
});

describe('OciRegistryClient against docker-registry 2.8', { skip, timeout: 120_000 }, () => {
  let reg: DockerRegistry;
  let authReg: DockerRegistry;
  let tmp: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('stella-oci-registry-');
    reg = await startDockerRegistry();
    authReg = await startDockerRegistry({ auth: { username: 'tester', password: 's3cret' } });
  });
  after(async () => {
    await reg?.stop();
    await authReg?.stop();
    await tmp?.cleanup();
  });

  test('push blob + manifest; pull back byte-identical; skopeo reads the same digests', async () => {
    const c = new OciRegistryClient({ registry: reg.host, scheme: 'http' });
    await c.ping();
    const content = randomBytes(300_000);
    const m = artifact(content);
    assert.equal(await c.hasBlob('stella/t1', sha(content)), false);
    assert.equal(
      await c.pushBlob('stella/t1', { digest: sha(content), size: content.length, body: () => content }),
      'uploaded',
    );
    // A stream body is sent with its Content-Length.
    const cfg = emptyJsonBytes();
    assert.equal(
      await c.pushBlob('stella/t1', {
        digest: sha(cfg),
        size: 2,
        body: () =>
          (async function* () {
            yield cfg;
          })(),
      }),
      'uploaded',
    );
    assert.equal(
      await c.pushBlob('stella/t1', { digest: sha(content), size: content.length, body: () => content }),
      'exists',
    );
    const pushed = await c.pushManifest('stella/t1', '2', m.bytes);
    assert.equal(pushed.digest, m.descriptor.digest);
    const got = await c.getManifest('stella/t1', '2');
    assert.ok(Buffer.from(got.bytes).equals(Buffer.from(m.bytes)));
    assert.equal(got.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(got.digest, m.descriptor.digest);
    assert.equal((await c.getManifest('stella/t1', m.descriptor.digest)).digest, m.descriptor.digest);
    assert.ok((await collect(c.getBlob('stella/t1', sha(content), content.length))).equals(content));

    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/stella/t1:2`]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(m.bytes)));
    const back = join(tmp.path, 'back');
    const cp = await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      `docker://${reg.host}/stella/t1:2`,
      `oci:${back}:2`,
    ]);
    assert.equal(cp.code, 0, cp.stderr.toString());
    const layout = await readOciLayout(back);
    assert.equal(layout.find('2')?.descriptor.digest, m.descriptor.digest);
  });

  test('pushLayoutEntry pushes an OCI layout; skopeo copies it on registry to registry with the digest kept', async () => {
    const content = randomBytes(10_000);
    const m = artifact(content);
    const dir = join(tmp.path, 'layout');
    await writeOciLayout(dir, {
      blobs: [{ bytes: emptyJsonBytes() }, { bytes: content }],
      manifests: [{ bytes: m.bytes, refName: '2' }],
    });
    const c = new OciRegistryClient({ registry: reg.host, scheme: 'http' });
    const r = await pushLayoutEntry(c, await readOciLayout(dir), '2', 'stella/layout', 'latest');
    assert.equal(r.digest, m.descriptor.digest);
    assert.deepEqual(r.uploaded.sort(), [sha(emptyJsonBytes()), sha(content)].sort());
    const again = await pushLayoutEntry(c, await readOciLayout(dir), '2', 'stella/layout');
    assert.deepEqual(again.uploaded, []);
    assert.equal(again.existing.length, 2);
    const cp = await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${reg.host}/stella/layout:latest`,
      `docker://${reg.host}/stella/mirror:2`,
    ]);
    assert.equal(cp.code, 0, cp.stderr.toString());
    assert.equal((await c.getManifest('stella/mirror', '2')).digest, m.descriptor.digest);
    await assertRejectsStella(pushLayoutEntry(c, await readOciLayout(dir), 'nope', 'stella/layout'), 'OCI_INVALID');
  });

  test('Basic auth: without credentials and with wrong ones → OCI_REGISTRY_AUTH; with them the push works', async () => {
    await assertRejectsStella(
      new OciRegistryClient({ registry: authReg.host, scheme: 'http' }).ping(),
      'OCI_REGISTRY_AUTH',
      /none were given/,
    );
    await assertRejectsStella(
      new OciRegistryClient({
        registry: authReg.host,
        scheme: 'http',
        credentials: { username: 'tester', password: 'wrong' },
      }).ping(),
      'OCI_REGISTRY_AUTH',
      /refused the credentials/,
    );
    const c = new OciRegistryClient({
      registry: authReg.host,
      scheme: 'http',
      credentials: { username: 'tester', password: 's3cret' },
    });
    await c.ping();
    const content = randomBytes(5000);
    const m = artifact(content);
    await c.pushBlob('trivy-db', { digest: sha(content), size: content.length, body: () => content });
    await c.pushBlob('trivy-db', { digest: sha(emptyJsonBytes()), size: 2, body: () => emptyJsonBytes() });
    assert.equal((await c.pushManifest('trivy-db', '2', m.bytes)).digest, m.descriptor.digest);
    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      'tester:s3cret',
      `docker://${authReg.host}/trivy-db:2`,
    ]);
    assert.equal(raw.code, 0, raw.stderr.toString());
    assert.ok(raw.stdout.equals(Buffer.from(m.bytes)));
  });

  test('registry errors are coded: a manifest whose blobs are missing, a wrong digest, a missing tag', async () => {
    const c = new OciRegistryClient({ registry: reg.host, scheme: 'http' });
    const content = randomBytes(100);
    const m = artifact(content);
    const e = await assertRejectsStella(
      c.pushManifest('stella/missing', '2', m.bytes),
      'OCI_REGISTRY_ERROR',
      /MANIFEST_BLOB_UNKNOWN/,
    );
    assert.equal((e.details as { status: number }).status, 400);
    // The body does not hash to the declared digest: the registry refuses it (DIGEST_INVALID).
    await assertRejectsStella(
      c.pushBlob('stella/bad', { digest: sha(Buffer.from('other')), size: content.length, body: () => content }),
      'OCI_REGISTRY_ERROR',
      /DIGEST_INVALID/,
    );
    await assertRejectsStella(
      c.getManifest('stella/missing', 'nope'),
      'OCI_REGISTRY_ERROR',
      /MANIFEST_UNKNOWN|NAME_UNKNOWN/,
    );
    await assertRejectsStella(c.pushManifest('stella/x', `sha256:${'0'.repeat(64)}`, m.bytes), 'DIGEST_MISMATCH');
    await assertRejectsStella(
      new OciRegistryClient({ registry: '127.0.0.1:1', scheme: 'http', timeoutMs: 2000 }).ping(),
      'OCI_REGISTRY_ERROR',
    );
  });

  test('credentials never go to another origin: an upload Location on blob storage gets no Authorization', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const fakeFetch: typeof fetch = async (input, init) => {
      const url = String(input);
      const auth = new Headers(init?.headers).get('authorization');
      seen.push({ url, auth });
      if (url.endsWith('/v2/') && !auth)
        return new Response('{}', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      if (init?.method === 'HEAD') return new Response(null, { status: 404 });
      if (init?.method === 'POST')
        return new Response(null, { status: 202, headers: { location: 'https://blobs.example/upload?state=abc' } });
      if (init?.method === 'PUT') return new Response(null, { status: 201 });
      return new Response('{}', { status: 200 });
    };
    const c = new OciRegistryClient({
      registry: 'registry.test',
      fetch: fakeFetch,
      credentials: { username: 'u', password: 'p' },
    });
    await c.ping();
    const body = Buffer.from('blob');
    assert.equal(await c.pushBlob('a', { digest: sha(body), size: body.length, body: () => body }), 'uploaded');
    const put = seen.find((x) => x.url.startsWith('https://blobs.example/'))!;
    assert.equal(put.url, `https://blobs.example/upload?state=abc&digest=${encodeURIComponent(sha(body))}`);
    assert.equal(put.auth, null);
    assert.ok(
      seen
        .filter((x) => x.url.startsWith('https://registry.test/'))
        .slice(1)
        .every((x) => x.auth?.startsWith('Basic ')),
    );
  });

  test('a pulled blob that does not match its digest fails with DIGEST_MISMATCH', async () => {
    // A tiny fake registry that serves the wrong bytes for a blob (a corrupting proxy).
    const good = randomBytes(64);
    const fakeFetch: typeof fetch = async () => new Response(randomBytes(64), { status: 200 });
    const c = new OciRegistryClient({ registry: 'registry.test', fetch: fakeFetch });
    await assertRejectsStella(collect(c.getBlob('a', sha(good))), 'DIGEST_MISMATCH');
  });
});
