/**
 * Evidence Locker end to end through `startRuntime` (issue 8, first slice): blob intake with its
 * limits, snapshot validation and sealing, get/list/download, offline verification — checked with
 * tools we did not write (GNU tar, sha256sum, openssl) — and tenant isolation, on PGlite and on
 * real PostgreSQL (RLS).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createTestDatabase,
  datasetsDir,
  makeOpensslTsaPki,
  needService,
  needTool,
  opensslVerify,
  run,
  startOpensslTsaHttp,
  tempDir,
} from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { pae } from '@stella/core/dsse';
import { verifyInclusion } from '@stella/core/merkle';
import { verifyBundle } from '@stella/evidence-locker';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const SBOM = join(datasetsDir, 'sbom/cyclonedx/bom-examples/laravel-7.12.0/bom.1.4.json');
const SPDX = join(datasetsDir, 'sbom/spdx/software/example9/spdx3.0/appbomination.spdx3.json');
const VEX = join(datasetsDir, 'vex/csaf/csaf_2.0/examples/csaf/csaf_vex/sec-vex-2022-0001.json');

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Harness {
  rt: Runtime;
  dir: string;
  call(
    tenant: string,
    method: string,
    path: string,
    init?: { body?: Uint8Array | string; json?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  upload(tenant: string, bytes: Uint8Array, digest?: string): Promise<Response>;
  close(): Promise<void>;
}

async function harness(env: Record<string, string> = {}): Promise<Harness> {
  const dir = await tempDir('stella-evidence-');
  const config = loadConfig(
    { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_BUS_URL: `memory://evidence-${Date.now()}`, ...env },
    {},
    { cwd: dir.path, services: SERVICES },
  );
  const rt = await startRuntime(config, { version: '0.0.0-test', logger: false });
  const tokens = new Map<string, string>();
  const token = async (tenant: string) => {
    if (!tokens.has(tenant)) tokens.set(tenant, await mintDevToken(rt.devIssuer!, tenant));
    return tokens.get(tenant)!;
  };
  const call: Harness['call'] = async (tenant, method, path, init = {}) =>
    fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token(tenant)}`,
        'x-stella-tenant': tenant,
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body ? { body: init.body } : {}),
    });
  return {
    rt,
    dir: dir.path,
    call,
    upload: (tenant, bytes, digest = sha(bytes)) =>
      call(tenant, 'PUT', `/evidence/blobs/${digest}`, {
        body: bytes,
        headers: { 'content-type': 'application/octet-stream' },
      }),
    close: async () => {
      await rt.close();
      await dir.cleanup();
    },
  };
}

async function count(rt: Runtime, table: string): Promise<number> {
  const r = await rt.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM evidence_locker.${table}`);
  return Number(r.rows[0]!.n);
}

async function objectKeys(rt: Runtime, prefix = 'evidence/'): Promise<string[]> {
  return (await rt.store.list(prefix)).items.map((i) => i.key);
}

/** Uploads the three dataset files for `tenant`; returns the snapshot artifacts naming them. */
async function uploadDatasets(h: Harness, tenant: string) {
  const files = [
    {
      path: 'inputs/sbom.cdx.json',
      mediaType: 'application/vnd.cyclonedx+json',
      role: 'input',
      bytes: await readFile(SBOM),
    },
    { path: 'inputs/sbom.spdx.json', mediaType: 'application/spdx+json', role: 'input', bytes: await readFile(SPDX) },
    { path: 'outputs/vex.csaf.json', mediaType: 'application/csaf+json', role: 'output', bytes: await readFile(VEX) },
  ];
  for (const f of files) assert.ok([200, 201].includes((await h.upload(tenant, f.bytes)).status));
  return files;
}

function snapshotBody(files: Awaited<ReturnType<typeof uploadDatasets>>) {
  return {
    kind: 'evaluation',
    subject: { name: 'registry.example/app:1.0', digest: sha(Buffer.from('app image')) },
    artifacts: [
      ...files.map((f) => ({ path: f.path, role: f.role, mediaType: f.mediaType, digest: sha(f.bytes) })),
      {
        path: 'run/metadata.json',
        role: 'metadata',
        mediaType: 'application/json',
        content: Buffer.from('{"policy":"default","result":"pass"}').toString('base64'),
      },
    ],
    metadata: { policy: 'default' },
  };
}

describe('evidence locker: blob intake', () => {
  let h: Harness;
  before(async () => {
    // The CycloneDX SBOM (136 KiB) is over the artifact limit; the quota holds the VEX and 90 KiB more.
    h = await harness({ STELLA_EVIDENCE_MAX_ARTIFACT_BYTES: '100KiB', STELLA_EVIDENCE_TENANT_QUOTA_BYTES: '120KiB' });
  });
  after(() => h.close());

  test('upload, dedupe, digest mismatch, oversize (declared and streamed) and quota', async () => {
    const vex = await readFile(VEX);
    const first = await h.upload('acme', vex);
    assert.equal(first.status, 201);
    assert.deepEqual(await first.json(), { digest: sha(vex), size: vex.byteLength, created: true });
    assert.equal(first.headers.get('x-stella-quota-used'), String(vex.byteLength));
    const again = await h.upload('acme', vex);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { created: boolean }).created, false);
    assert.equal(await count(h.rt, 'blobs'), 1);

    // Wrong digest: the store's code, no row, no object.
    const bad = await h.upload('acme', Buffer.from('not the vex'), sha(Buffer.from('something else')));
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: string }).code, 'OBJECT_DIGEST_MISMATCH');
    assert.equal(await count(h.rt, 'blobs'), 1);
    assert.deepEqual(await objectKeys(h.rt), [`evidence/acme/blobs/sha256/${sha(vex).slice(7)}`]);

    /** A PUT of `bytes` as a stream, so the request carries no Content-Length. */
    const uploadChunked = async (bytes: Uint8Array) =>
      fetch(`${h.rt.url}/evidence/blobs/${sha(bytes)}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${await mintDevToken(h.rt.devIssuer!, 'acme')}`,
          'x-stella-tenant': 'acme',
          'content-type': 'application/octet-stream',
        },
        body: new ReadableStream({
          start(c) {
            c.enqueue(new Uint8Array(bytes));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
    // Over the per-artifact limit, with Content-Length and streamed without one.
    const sbom = await readFile(SBOM);
    const big = await h.upload('acme', sbom);
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { code: string }).code, 'PAYLOAD_TOO_LARGE');
    const chunked = await uploadChunked(sbom);
    assert.equal(chunked.status, 413);
    assert.equal(((await chunked.json()) as { code: string }).code, 'PAYLOAD_TOO_LARGE');
    assert.equal(await count(h.rt, 'blobs'), 1);

    // Quota: 120 KiB; the VEX and a 90 KiB blob fit, 40 KiB more does not.
    const filler = Buffer.alloc(90 * 1024, 7);
    assert.equal((await h.upload('acme', filler)).status, 201);
    const used = vex.byteLength + filler.byteLength;
    const over = await h.upload('acme', Buffer.alloc(40 * 1024, 8));
    assert.equal(over.status, 429);
    assert.equal(((await over.json()) as { code: string }).code, 'QUOTA_EXCEEDED');
    assert.equal(over.headers.get('x-stella-quota-limit'), String(120 * 1024));
    assert.equal(over.headers.get('x-stella-quota-used'), String(used));
    assert.equal(over.headers.get('x-stella-quota-remaining'), String(120 * 1024 - used));
    assert.equal(await count(h.rt, 'blobs'), 2);
    // The same without Content-Length: refused while streaming, and the store keeps nothing.
    const streamedOver = Buffer.alloc(40 * 1024, 9);
    const chunkedOver = await uploadChunked(streamedOver);
    assert.equal(chunkedOver.status, 429);
    assert.equal(((await chunkedOver.json()) as { code: string }).code, 'QUOTA_EXCEEDED');
    assert.equal((await objectKeys(h.rt, 'evidence/acme/')).length, 2);
    // Another tenant has its own quota and its own copy of the same bytes.
    assert.equal((await h.upload('globex', filler)).status, 201);
    assert.equal((await h.upload('globex', vex)).status, 201);
    assert.ok(
      (await objectKeys(h.rt, 'evidence/globex/')).includes(`evidence/globex/blobs/sha256/${sha(vex).slice(7)}`),
    );
  });
});

interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

describe('evidence locker: snapshot, download and offline verification', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('bad snapshot input: coded errors, nothing persisted', async () => {
    const files = await uploadDatasets(h, 'acme');
    const good = snapshotBody(files);
    const ref = good.artifacts[0]!;
    const cases: [string, unknown, string][] = [
      ['unknown kind', { ...good, kind: 'audit' }, 'VALIDATION_FAILED'],
      ['duplicate paths', { ...good, artifacts: [ref, { ...ref }] }, 'VALIDATION_FAILED'],
      ['traversal', { ...good, artifacts: [{ ...ref, path: 'inputs/../../etc/passwd' }] }, 'VALIDATION_FAILED'],
      ['absolute path', { ...good, artifacts: [{ ...ref, path: '/etc/passwd' }] }, 'VALIDATION_FAILED'],
      ['backslash', { ...good, artifacts: [{ ...ref, path: 'a\\b.json' }] }, 'VALIDATION_FAILED'],
      ['case collision', { ...good, artifacts: [ref, { ...ref, path: ref.path.toUpperCase() }] }, 'VALIDATION_FAILED'],
      [
        'file and directory',
        {
          ...good,
          artifacts: [
            { ...ref, path: 'x' },
            { ...ref, path: 'x/y' },
          ],
        },
        'VALIDATION_FAILED',
      ],
      ['role of the wrong type', { ...good, artifacts: [{ ...ref, role: 5 }] }, 'VALIDATION_FAILED'],
      ['unknown role', { ...good, artifacts: [{ ...ref, role: 'secret' }] }, 'VALIDATION_FAILED'],
      ['artifacts not an array', { ...good, artifacts: {} }, 'VALIDATION_FAILED'],
      ['no artifacts', { ...good, artifacts: [] }, 'VALIDATION_FAILED'],
      ['digest and content', { ...good, artifacts: [{ ...ref, content: 'AA==' }] }, 'VALIDATION_FAILED'],
      [
        'bad base64',
        { ...good, artifacts: [{ path: 'a', role: 'log', mediaType: 'text/plain', content: '@@' }] },
        'VALIDATION_FAILED',
      ],
      ['bad media type', { ...good, artifacts: [{ ...ref, mediaType: 'json' }] }, 'VALIDATION_FAILED'],
      ['unknown member', { ...good, extra: true }, 'VALIDATION_FAILED'],
      [
        'blob never uploaded',
        { ...good, artifacts: [{ ...ref, digest: sha(Buffer.from('nope')) }] },
        'EVIDENCE_BLOB_MISSING',
      ],
    ];
    for (const [name, body, code] of cases) {
      const res = await h.call('acme', 'POST', '/evidence/snapshot', { json: body });
      const err = (await res.json()) as ErrorBody;
      assert.equal(err.code, code, `${name}: ${JSON.stringify(err)}`);
      assert.equal(res.status, 400, name);
    }
    const malformed = await h.call('acme', 'POST', '/evidence/snapshot', {
      body: '{"kind":"job",',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(((await malformed.json()) as ErrorBody).code, 'MALFORMED_JSON');
    assert.equal(await count(h.rt, 'bundles'), 0);
    assert.equal(await count(h.rt, 'artifacts'), 0);
    assert.equal(await count(h.rt, 'custody_events'), 0);
    assert.deepEqual(await objectKeys(h.rt, 'evidence/acme/bundles/'), []);
    // The inline blob of the refused requests was never stored either.
    assert.equal(await count(h.rt, 'blobs'), 3);
  });

  test('seal → get → list → download (deterministic, ETag, 304, Range) → verify; tamper is named', async () => {
    const files = await uploadDatasets(h, 'acme');
    const body = snapshotBody(files);
    const sealed = await h.call('acme', 'POST', '/evidence/snapshot', {
      json: body,
      headers: { 'idempotency-key': 'eval-1' },
    });
    assert.equal(sealed.status, 201, await sealed.clone().text());
    const s1 = (await sealed.json()) as { bundleId: string; rootHash: string; manifestDigest: string; keyId: string };
    assert.match(s1.rootHash, /^[0-9a-f]{64}$/);
    assert.equal(s1.keyId.startsWith('sha256:'), true);

    // Same Idempotency-Key and body: the same bundle; another body: 409.
    const replay = await h.call('acme', 'POST', '/evidence/snapshot', {
      json: body,
      headers: { 'idempotency-key': 'eval-1' },
    });
    assert.deepEqual(await replay.json(), s1);
    const clash = await h.call('acme', 'POST', '/evidence/snapshot', {
      json: { ...body, kind: 'job' },
      headers: { 'idempotency-key': 'eval-1' },
    });
    assert.equal(clash.status, 409);
    // Sealing the same inputs again: a new bundle with the same root (artifacts given in another order).
    const s2 = (await (
      await h.call('acme', 'POST', '/evidence/snapshot', {
        json: { ...body, artifacts: [...body.artifacts].reverse() },
      })
    ).json()) as typeof s1;
    assert.notEqual(s2.bundleId, s1.bundleId);
    assert.equal(s2.rootHash, s1.rootHash);
    assert.notEqual(s2.manifestDigest, s1.manifestDigest);

    const got = (await (await h.call('acme', 'GET', `/evidence/${s1.bundleId}`)).json()) as {
      artifacts: { path: string; digest: string; size: number }[];
      archive: { digest: string; size: number };
      subject: { digest: string };
    };
    assert.deepEqual(
      got.artifacts.map((a) => a.path),
      ['inputs/sbom.cdx.json', 'inputs/sbom.spdx.json', 'outputs/vex.csaf.json', 'run/metadata.json'],
    );
    const list = async (q: string) =>
      (await (await h.call('acme', 'GET', `/evidence${q}`)).json()) as {
        items: { bundleId: string }[];
        nextCursor?: string;
      };
    assert.deepEqual(
      (await list('')).items.map((i) => i.bundleId),
      [s2.bundleId, s1.bundleId],
    );
    const page1 = await list('?limit=1');
    assert.deepEqual(
      page1.items.map((i) => i.bundleId),
      [s2.bundleId],
    );
    assert.deepEqual(
      (await list(`?limit=1&cursor=${page1.nextCursor}`)).items.map((i) => i.bundleId),
      [s1.bundleId],
    );
    assert.equal((await list(`?digest=${sha(files[2]!.bytes)}`)).items.length, 2);
    assert.equal((await list(`?artifactDigest=${sha(Buffer.from('x'))}`)).items.length, 0);
    assert.equal((await list(`?subjectDigest=${got.subject.digest}&kind=job`)).items.length, 0);
    assert.equal((await list(`?digest=${s1.manifestDigest}`)).items.length, 1);

    // Download twice: identical bytes; ETag is their sha256; If-None-Match → 304; one Range → 206.
    const d1 = await h.call('acme', 'GET', `/evidence/${s1.bundleId}/download`);
    assert.equal(d1.status, 200);
    const tgz = Buffer.from(await d1.arrayBuffer());
    const tgz2 = Buffer.from(await (await h.call('acme', 'GET', `/evidence/${s1.bundleId}/download`)).arrayBuffer());
    assert.ok(tgz.equals(tgz2));
    assert.equal(d1.headers.get('etag'), `"${sha(tgz)}"`);
    assert.equal(got.archive.digest, sha(tgz));
    const notModified = await h.call('acme', 'GET', `/evidence/${s1.bundleId}/download`, {
      headers: { 'if-none-match': d1.headers.get('etag')! },
    });
    assert.equal(notModified.status, 304);
    const ranged = await h.call('acme', 'GET', `/evidence/${s1.bundleId}/download`, {
      headers: { range: 'bytes=10-99' },
    });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 10-99/${tgz.byteLength}`);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(tgz.subarray(10, 100)));
    // One artifact's bytes, and its inclusion proof against the sealed root (RFC 9162 §2.1.3.2).
    const art = await h.call('acme', 'GET', `/evidence/${s1.bundleId}/artifacts/outputs/vex.csaf.json`);
    assert.equal(art.status, 200);
    assert.equal(art.headers.get('content-type'), 'application/csaf+json');
    assert.ok(Buffer.from(await art.arrayBuffer()).equals(files[2]!.bytes));
    const noSuch = await h.call('acme', 'GET', `/evidence/${s1.bundleId}/artifacts/outputs/nope.json`);
    assert.equal(((await noSuch.json()) as ErrorBody).code, 'EVIDENCE_NOT_FOUND');
    const proved = (await (
      await h.call('acme', 'GET', `/evidence/${s1.bundleId}/proof?path=outputs/vex.csaf.json`)
    ).json()) as {
      entry: Record<string, unknown>;
      proof: { leafIndex: number; treeSize: number; leafHash: string; auditPath: string[]; root: string };
    };
    assert.equal(proved.proof.root, s1.rootHash);
    const sortedJson = (o: Record<string, unknown>) =>
      JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))));
    const leaf = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), Buffer.from(sortedJson(proved.entry))]))
      .digest();
    assert.equal(leaf.toString('hex'), proved.proof.leafHash);
    verifyInclusion(
      leaf,
      proved.proof.leafIndex,
      proved.proof.treeSize,
      proved.proof.auditPath.map((x) => Buffer.from(x, 'hex')),
      Buffer.from(s1.rootHash, 'hex'),
    );
    const head = await h.call('acme', 'HEAD', `/evidence/${s1.bundleId}/download`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('etag'), `"${sha(tgz)}"`);
    for (const q of ['?createdAfter=yesterday', '?limit=0', '?limit=201', '?cursor=x', '?kind=audit', '?digest=md5:1'])
      assert.equal(
        ((await (await h.call('acme', 'GET', `/evidence${q}`)).json()) as ErrorBody).code,
        'VALIDATION_FAILED',
        q,
      );
    assert.equal((await list(`?createdAfter=${new Date(Date.now() + 60_000).toISOString()}`)).items.length, 0);
    assert.equal((await list(`?createdBefore=${new Date(Date.now() + 60_000).toISOString()}`)).items.length, 2);
    const byId = (await (await h.call('acme', 'POST', `/evidence/${s1.bundleId}/verify`)).json()) as {
      ok: boolean;
      checks: { check: string; status: string }[];
    };
    assert.equal(byId.ok, true);
    assert.equal(byId.checks.find((c) => c.check === 'signature')?.status, 'pass');
    // The contract's route: POST /evidence/verify by id (a JSON body) gives the same report.
    const byBody = (await (
      await h.call('acme', 'POST', '/evidence/verify', { json: { bundleId: s1.bundleId } })
    ).json()) as typeof byId;
    assert.deepEqual(byBody, byId);
    for (const bad of [{}, { bundleId: 'nope' }, { bundleId: s1.bundleId, extra: 1 }, [s1.bundleId]]) {
      const res = await h.call('acme', 'POST', '/evidence/verify', { json: bad });
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(((await res.json()) as ErrorBody).code, 'VALIDATION_FAILED');
    }
    const custody = await h.rt.db.query<{ action: string }>(
      `SELECT action FROM evidence_locker.custody_events WHERE bundle_id = $1 ORDER BY id`,
      [s1.bundleId],
    );
    assert.deepEqual(
      custody.rows.map((r) => r.action),
      ['seal', 'download', 'download', 'download', 'artifact-download', 'verify', 'verify'],
    );
    const outbox = await h.rt.db.query<{ kind: string }>(`SELECT kind FROM stella_platform.outbox ORDER BY id`);
    assert.deepEqual(
      [...new Set(outbox.rows.map((r) => r.kind))],
      // Every custody row has its evidence.custody.<action> event beside the specific one.
      [
        'evidence.custody.seal',
        'evidence.bundle.sealed',
        'evidence.custody.download',
        'evidence.bundle.downloaded',
        'evidence.custody.artifact-download',
        'evidence.custody.verify',
        'evidence.bundle.verified',
      ],
    );

    // Offline: our verifier, and the tools we did not write.
    const report = await verifyBundle(tgz);
    assert.equal(report.ok, true, JSON.stringify(report.checks.filter((c) => c.status !== 'pass')));
    assert.equal(report.rootHash, s1.rootHash);
    const out = join(h.dir, 'extract');
    await run('mkdir', ['-p', out]);
    await writeFile(join(h.dir, 'bundle.tgz'), tgz);
    assert.equal((await run('tar', ['-xzf', join(h.dir, 'bundle.tgz'), '-C', out])).code, 0);
    const sums = await run('sha256sum', ['-c', 'checksums.txt'], { cwd: out });
    assert.equal(sums.code, 0, sums.stderr.toString());
    assert.equal(sums.stdout.toString().trim().split('\n').length, 10);
    assert.deepEqual(await readFile(join(out, 'artifacts/inputs/sbom.cdx.json')), files[0]!.bytes);
    if (!needTool('openssl')) {
      const env = JSON.parse(await readFile(join(out, 'signature.json'), 'utf8')) as {
        payload: string;
        payloadType: string;
        signatures: { sig: string }[];
      };
      await writeFile(join(h.dir, 'pae'), pae(env.payloadType, Buffer.from(env.payload, 'base64')));
      await writeFile(join(h.dir, 'sig'), Buffer.from(env.signatures[0]!.sig, 'base64'));
      const ok = await run('openssl', [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        join(out, 'keys/seal.pub.pem'),
        '-rawin',
        '-in',
        join(h.dir, 'pae'),
        '-sigfile',
        join(h.dir, 'sig'),
      ]);
      assert.equal(ok.code, 0, ok.stdout.toString() + ok.stderr.toString());
      const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as {
        subject: { digest: { sha256: string } }[];
        predicate: { manifest: { digest: string } };
      };
      assert.equal(statement.subject[0]!.digest.sha256, s1.rootHash);
      assert.equal(statement.predicate.manifest.digest, sha(await readFile(join(out, 'manifest.json'))));
    }

    // Flip one byte of one artifact and re-pack with GNU tar: verification fails naming it.
    const victim = join(out, 'artifacts/outputs/vex.csaf.json');
    const bytes = await readFile(victim);
    bytes[100] = bytes[100]! ^ 0x01;
    await writeFile(victim, bytes);
    const entries = (await readdir(out)).sort();
    assert.equal((await run('tar', ['-czf', join(h.dir, 'tampered.tgz'), '-C', out, ...entries])).code, 0);
    const tampered = await readFile(join(h.dir, 'tampered.tgz'));
    const verified = (await (
      await h.call('acme', 'POST', '/evidence/verify', {
        body: tampered,
        headers: { 'content-type': 'application/gzip' },
      })
    ).json()) as { ok: boolean; checks: { check: string; status: string }[] };
    assert.equal(verified.ok, false);
    assert.deepEqual(
      verified.checks.filter((c) => c.status === 'fail').map((c) => c.check),
      ['checksum:artifacts/outputs/vex.csaf.json', 'artifact:outputs/vex.csaf.json'],
    );
    assert.notEqual((await run('sha256sum', ['-c', '--quiet', 'checksums.txt'], { cwd: out })).code, 0);
    // The untouched bundle verifies through the route too.
    const fine = (await (
      await h.call('acme', 'POST', '/evidence/verify', { body: tgz, headers: { 'content-type': 'application/gzip' } })
    ).json()) as { ok: boolean };
    assert.equal(fine.ok, true);
  });
});

/** Tenant B asks for everything of tenant A's bundle: each answer is the one for a missing bundle. */
async function assertTenantIsolation(h: Harness): Promise<void> {
  const files = await uploadDatasets(h, 'tenant-a');
  const sealed = await h.call('tenant-a', 'POST', '/evidence/snapshot', { json: snapshotBody(files) });
  assert.equal(sealed.status, 201);
  const { bundleId, manifestDigest } = (await sealed.json()) as { bundleId: string; manifestDigest: string };
  const missingId = '01J00000000000000000000000';
  const strip = async (res: Response, id: string) => {
    const body = (await res.json()) as ErrorBody & { traceId?: string };
    return {
      status: res.status,
      ...body,
      traceId: undefined,
      message: body.message.replace(id, '<id>'),
      details: undefined,
    };
  };
  for (const [method, suffix] of [
    ['GET', ''],
    ['GET', '/download'],
    ['POST', '/verify'],
    ['GET', '/artifacts/inputs/sbom.cdx.json'],
    ['GET', '/proof?path=inputs/sbom.cdx.json'],
    ['GET', '/portable?withhold=inputs/sbom.cdx.json'],
  ] as const) {
    const foreign = await strip(await h.call('tenant-b', method, `/evidence/${bundleId}${suffix}`), bundleId);
    const missing = await strip(await h.call('tenant-b', method, `/evidence/${missingId}${suffix}`), missingId);
    assert.equal(foreign.code, 'EVIDENCE_NOT_FOUND');
    assert.deepEqual(foreign, missing);
  }
  const verifyForeign = await h.call('tenant-b', 'POST', '/evidence/verify', { json: { bundleId } });
  const verifyMissing = await h.call('tenant-b', 'POST', '/evidence/verify', { json: { bundleId: missingId } });
  assert.equal(verifyForeign.status, 404);
  assert.deepEqual(await strip(verifyForeign, bundleId), await strip(verifyMissing, missingId));
  // Holds: B cannot hold A's bundle (404 like a missing one), nor release or see A's holds.
  const holdA = await h.call('tenant-a', 'POST', '/evidence/hold/case-a', {
    json: { reason: 'litigation', bundleIds: [bundleId] },
  });
  assert.equal(holdA.status, 201);
  const holdForeign = await h.call('tenant-b', 'POST', '/evidence/hold/case-b', {
    json: { reason: 'x', bundleIds: [bundleId] },
  });
  const holdMissing = await h.call('tenant-b', 'POST', '/evidence/hold/case-b', {
    json: { reason: 'x', bundleIds: [missingId] },
  });
  assert.deepEqual(await strip(holdForeign, bundleId), await strip(holdMissing, missingId));
  const releaseForeign = await h.call('tenant-b', 'DELETE', '/evidence/hold/case-a', { json: { reason: 'x' } });
  assert.equal(releaseForeign.status, 404);
  assert.deepEqual(((await (await h.call('tenant-b', 'GET', '/evidence/holds')).json()) as { items: [] }).items, []);
  assert.equal(
    ((await (await h.call('tenant-a', 'GET', '/evidence/holds?active=true')).json()) as { items: [] }).items.length,
    1,
  );
  const listB = (await (await h.call('tenant-b', 'GET', `/evidence?digest=${manifestDigest}`)).json()) as { items: [] };
  assert.deepEqual(listB.items, []);
  assert.deepEqual(((await (await h.call('tenant-b', 'GET', '/evidence')).json()) as { items: [] }).items, []);
  // A's blobs are not B's: naming one in B's snapshot is a missing blob; B uploading it gets its own copy.
  const refused = await h.call('tenant-b', 'POST', '/evidence/snapshot', { json: snapshotBody(files) });
  assert.equal(((await refused.json()) as ErrorBody).code, 'EVIDENCE_BLOB_MISSING');
  assert.equal((await h.upload('tenant-b', files[0]!.bytes)).status, 201);
  // And A still sees its own bundle.
  assert.equal((await h.call('tenant-a', 'GET', `/evidence/${bundleId}/download`)).status, 200);
}

describe('evidence locker: tenant isolation (PGlite)', () => {
  test("another tenant's bundle answers 404 exactly like a missing one", async () => {
    const h = await harness();
    try {
      await assertTenantIsolation(h);
    } finally {
      await h.close();
    }
  });
});

describe('evidence locker: tenant isolation on PostgreSQL (RLS)', { skip: await needService('postgres') }, () => {
  test('get, list, download and blobs stay per tenant', async () => {
    const db = await createTestDatabase('evidence');
    const h = await harness({ STELLA_DATABASE_URL: db.url });
    try {
      await assertTenantIsolation(h);
      // The app role under RLS: without a tenant no rows at all; as tenant-b none of tenant-a's.
      const asB = await h.rt.db.withTenant('tenant-b', (tx) =>
        tx.query<{ n: string }>('SELECT count(*)::text AS n FROM evidence_locker.bundles'),
      );
      assert.equal(asB.rows[0]!.n, '0');
      const asA = await h.rt.db.withTenant('tenant-a', (tx) =>
        tx.query<{ n: string }>('SELECT count(*)::text AS n FROM evidence_locker.artifacts'),
      );
      assert.equal(asA.rows[0]!.n, '4');
      // The chain of custody is append-only for the app role (SQLSTATE 42501 insufficient_privilege).
      for (const sql of [
        "UPDATE evidence_locker.custody_events SET action = 'x'",
        'DELETE FROM evidence_locker.custody_events',
      ])
        await assert.rejects(
          h.rt.db.withTenant('tenant-a', (tx) => tx.query(sql)),
          (err: { code?: string }) => err.code === '42501',
          sql,
        );
    } finally {
      await h.close();
      await db.drop();
    }
  });
});

describe('evidence locker: RFC 3161 timestamp', { skip: needTool('openssl') }, () => {
  test('a configured TSA stamps signature.json; openssl ts -verify and our verifier agree', async () => {
    const pkiDir = await tempDir('stella-evidence-tsa-');
    const pki = await makeOpensslTsaPki(pkiDir.path);
    const tsa = await startOpensslTsaHttp(pki);
    const h = await harness({ STELLA_TSA_URL: tsa.url });
    try {
      const files = await uploadDatasets(h, 'acme');
      const res = await h.call('acme', 'POST', '/evidence/snapshot', { json: snapshotBody(files) });
      assert.equal(res.status, 201);
      const sealed = (await res.json()) as { bundleId: string; timestamp?: { genTime: string; tsa: string } };
      assert.ok(sealed.timestamp);
      assert.ok(Math.abs(Date.parse(sealed.timestamp.genTime) - Date.now()) < 60_000);
      const tgz = Buffer.from(
        await (await h.call('acme', 'GET', `/evidence/${sealed.bundleId}/download`)).arrayBuffer(),
      );
      const out = join(h.dir, 'x');
      await run('mkdir', ['-p', out]);
      await writeFile(join(h.dir, 'b.tgz'), tgz);
      assert.equal((await run('tar', ['-xzf', join(h.dir, 'b.tgz'), '-C', out])).code, 0);
      // VERIFY.md's recipe: the time-stamped datum is the signature value, extracted with sed + openssl.
      const extract = await run(
        'sh',
        ['-c', `sed -n 's/.*"sig":"\\([^"]*\\)".*/\\1/p' signature.json | openssl base64 -d -A > sig.bin`],
        { cwd: out },
      );
      assert.equal(extract.code, 0, extract.stderr.toString());
      assert.match(await readFile(join(out, 'VERIFY.md'), 'utf8'), /openssl ts -verify -data sig.bin/);
      const v = await opensslVerify(
        ['-data', join(out, 'sig.bin'), '-in', join(out, 'timestamp.tsr'), '-CAfile', pki.caCert],
        out,
      );
      assert.equal(v.code, 0, v.output);
      const ca = await readFile(pki.caCert, 'utf8');
      const report = await verifyBundle(tgz, { tsaCaPem: [ca] });
      assert.equal(report.ok, true);
      assert.equal(report.checks.find((c) => c.check === 'timestamp')?.status, 'pass');
      // Without the TSA CA the imprint is still checked, the TSA signature is reported as skipped.
      assert.equal((await verifyBundle(tgz)).checks.find((c) => c.check === 'timestamp')?.status, 'skip');
      const sums = await run('sha256sum', ['-c', 'checksums.txt'], { cwd: out });
      assert.equal(sums.code, 0);
    } finally {
      await h.close();
      await tsa.close();
      await pkiDir.cleanup();
    }
  });
});

describe('evidence locker: a seal that cannot finish leaves nothing behind', () => {
  test('TSA unreachable: 502 TIMESTAMP_REQUEST_FAILED, no rows, no inline blob, no archive', async () => {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const h = await harness({ STELLA_TSA_URL: 'http://127.0.0.1:9/' });
    try {
      const files = await uploadDatasets(h, 'acme');
      const res = await h.call('acme', 'POST', '/evidence/snapshot', {
        json: snapshotBody(files),
        headers: { 'idempotency-key': 'k1' },
      });
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as ErrorBody).code, 'TIMESTAMP_REQUEST_FAILED');
      for (const table of ['bundles', 'artifacts', 'snapshot_requests', 'custody_events'])
        assert.equal(await count(h.rt, table), 0, table);
      assert.equal(await count(h.rt, 'blobs'), 3);
      assert.equal((await objectKeys(h.rt)).length, 3);
      const outbox = await h.rt.db.query<{ n: string }>('SELECT count(*)::text AS n FROM stella_platform.outbox');
      assert.equal(outbox.rows[0]!.n, '0');
    } finally {
      await h.close();
    }
  });
});

describe('evidence locker: legal holds', () => {
  test('named holds by id and by filter; held until the last is released; WORM in the store; bad input refused', async () => {
    const h = await harness();
    try {
      const files = await uploadDatasets(h, 'acme');
      const seal = async (kind: string) =>
        (
          (await (
            await h.call('acme', 'POST', '/evidence/snapshot', { json: { ...snapshotBody(files), kind } })
          ).json()) as {
            bundleId: string;
          }
        ).bundleId;
      const b1 = await seal('evaluation');
      const b2 = await seal('job');
      const key = (id: string) => `evidence/acme/bundles/${id}.tgz`;
      const held = async (id: string) => (await h.rt.store.head(key(id))).legalHold;

      const bad: [string, unknown][] = [
        ['no reason', { bundleIds: [b1] }],
        ['empty reason', { reason: '', bundleIds: [b1] }],
        ['neither ids nor filter', { reason: 'r' }],
        ['ids of the wrong type', { reason: 'r', bundleIds: 'all' }],
        ['bad end', { reason: 'r', bundleIds: [b1], endsAt: 'soon' }],
      ];
      for (const [name, body] of bad) {
        const res = await h.call('acme', 'POST', '/evidence/hold/case-1', { json: body });
        assert.equal(((await res.json()) as ErrorBody).code, 'VALIDATION_FAILED', name);
      }
      const missing = await h.call('acme', 'POST', '/evidence/hold/case-1', {
        json: { reason: 'r', bundleIds: [b1, '01J00000000000000000000000'] },
      });
      assert.equal(((await missing.json()) as ErrorBody).code, 'EVIDENCE_NOT_FOUND');
      assert.equal(await count(h.rt, 'holds'), 0);
      assert.equal(await held(b1), false);

      const one = await h.call('acme', 'POST', '/evidence/hold/case-1', {
        json: { reason: 'subpoena 1', bundleIds: [b1] },
      });
      assert.equal(one.status, 201);
      assert.deepEqual(((await one.json()) as { bundleIds: string[] }).bundleIds, [b1]);
      const two = await h.call('acme', 'POST', '/evidence/hold/case-2', {
        json: { reason: 'audit', filter: { kind: 'evaluation' } },
      });
      assert.deepEqual(((await two.json()) as { bundleIds: string[] }).bundleIds, [b1]);
      // Adding to an active hold answers 200 with the union.
      const more = await h.call('acme', 'POST', '/evidence/hold/case-2', {
        json: { reason: 'audit', bundleIds: [b2] },
      });
      assert.equal(more.status, 200);
      assert.deepEqual(((await more.json()) as { bundleIds: string[] }).bundleIds, [b1, b2].sort());
      assert.equal(await held(b1), true);
      // The store refuses to delete a held archive (WORM legal hold).
      await assert.rejects(h.rt.store.delete(key(b1)), (e: { code?: string }) => e.code === 'OBJECT_RETAINED');

      const noReason = await h.call('acme', 'DELETE', '/evidence/hold/case-1', { json: {} });
      assert.equal(((await noReason.json()) as ErrorBody).code, 'VALIDATION_FAILED');
      const released = await h.call('acme', 'DELETE', '/evidence/hold/case-1', { json: { reason: 'case closed' } });
      assert.equal(released.status, 200);
      assert.equal(((await released.json()) as { active: boolean }).active, false);
      assert.equal(await held(b1), true, 'case-2 still holds b1');
      assert.equal(
        (
          (await (
            await h.call('acme', 'DELETE', '/evidence/hold/case-1', { json: { reason: 'again' } })
          ).json()) as ErrorBody
        ).code,
        'CONFLICT',
      );
      await h.call('acme', 'DELETE', '/evidence/hold/case-2', { json: { reason: 'audit done' } });
      assert.equal(await held(b1), false);
      assert.equal(await held(b2), false);
      const custody = await h.rt.db.query<{ action: string }>(
        `SELECT action FROM evidence_locker.custody_events WHERE bundle_id = $1 ORDER BY id`,
        [b1],
      );
      assert.deepEqual(
        custody.rows.map((r) => r.action),
        ['seal', 'hold', 'hold', 'release', 'release'],
      );
      const holds = (await (await h.call('acme', 'GET', '/evidence/holds?active=false')).json()) as {
        items: { caseId: string; releaseReason: string }[];
      };
      assert.deepEqual(
        holds.items.map((i) => [i.caseId, i.releaseReason]),
        [
          ['case-1', 'case closed'],
          ['case-2', 'audit done'],
        ],
      );
    } finally {
      await h.close();
    }
  });
});
