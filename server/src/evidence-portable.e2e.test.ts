/**
 * Portable export end to end (issue #8 item 8; ADR 0011), on PGlite and on real PostgreSQL:
 * real SBOM/VEX files sealed → `GET /evidence/{id}/portable` with one artifact withheld →
 * verify-offline.sh passes with no network and only sh/sha256sum/openssl on PATH, no tenant id
 * anywhere in the bytes, the withheld entry verifies without its content → one flipped byte fails
 * both verify-offline.sh and our verifier naming the artifact; the seal also verifies with
 * Debian's securesystemslib and openssl; custody and outbox record the export.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { createTestDatabase, datasetsDir, needService, needTool, run, tempDir } from '@stella/testkit';
import { loadConfig } from '@stella/platform/config';
import { verifyBundle } from '@stella/evidence-locker';
import { runVerifyOffline } from '@stella/evidence-locker/testing';
import { mintDevToken, startRuntime, type Runtime } from './runtime.js';
import { SERVICES } from './service-registry.js';

const TENANT = 'acme-portable-q7';
const PY = '/usr/bin/python3';
const VERIFY_DSSE = fileURLToPath(new URL('../../packages/core/src/dsse/testdata/verify_dsse.py', import.meta.url));
const DATASETS = [
  ['inputs/sbom.cdx.json', 'application/vnd.cyclonedx+json', 'sbom/cyclonedx/bom-examples/laravel-7.12.0/bom.1.4.json'],
  ['inputs/sbom.spdx.json', 'application/spdx+json', 'sbom/spdx/software/example9/spdx3.0/appbomination.spdx3.json'],
  ['outputs/vex.csaf.json', 'application/csaf+json', 'vex/csaf/csaf_2.0/examples/csaf/csaf_vex/sec-vex-2022-0001.json'],
  ['outputs/vex.openvex.json', 'application/openvex+json', 'vex/openvex/go-vex-testdata/v020-1.vex.json'],
] as const;
// Small and guessable: exactly what a plain digest in the entry would give away.
const VERDICT = Buffer.from('{"result":"pass"}');

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const skipTools = needTool('openssl') || needTool('unshare') || needTool('tar');
const noSslib = needTool(PY, { args: ['-c', 'import securesystemslib.signer'] });

interface ErrorBody {
  code: string;
  details?: Record<string, unknown>;
}

async function start(env: Record<string, string>, dir: string) {
  const config = loadConfig(
    { STELLA_HTTP_PORT: '0', STELLA_WORKERS: '0', STELLA_BUS_URL: `memory://portable-${Date.now()}`, ...env },
    {},
    { cwd: dir, services: SERVICES },
  );
  const rt: Runtime = await startRuntime(config, { version: '0.0.0-test', logger: false });
  const token = await mintDevToken(rt.devIssuer!, TENANT);
  const call = (method: string, path: string, init: { body?: Uint8Array; json?: unknown; type?: string } = {}) =>
    fetch(`${rt.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'x-stella-tenant': TENANT,
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.type ? { 'content-type': init.type } : {}),
      },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body ? { body: init.body } : {}),
    });
  return { rt, call };
}

async function portableFlow(env: Record<string, string>): Promise<void> {
  const dir = await tempDir('stella-portable-');
  const { rt, call } = await start(env, dir.path);
  try {
    const artifacts: Record<string, unknown>[] = [];
    const bytesOf = new Map<string, Buffer>();
    for (const [path, mediaType, file] of DATASETS) {
      const bytes = await readFile(join(datasetsDir, file));
      bytesOf.set(path, bytes);
      const up = await call('PUT', `/evidence/blobs/${sha(bytes)}`, { body: bytes, type: 'application/octet-stream' });
      assert.ok([200, 201].includes(up.status), String(up.status));
      artifacts.push({ path, role: path.startsWith('inputs/') ? 'input' : 'output', mediaType, digest: sha(bytes) });
    }
    artifacts.push({
      path: 'outputs/verdict.json',
      role: 'output',
      mediaType: 'application/json',
      content: VERDICT.toString('base64'),
    });
    const body = {
      kind: 'evaluation',
      subject: { name: `registry.internal/${TENANT}/app:1.0`, digest: sha(Buffer.from('app image')) },
      artifacts,
      metadata: { ticket: 'CHG-9', pipeline: `ci/${TENANT}/nightly`, policy: 'default' },
    };
    const s1 = (await (await call('POST', '/evidence/snapshot', { json: body })).json()) as {
      bundleId: string;
      rootHash: string;
    };
    // Salted commitments are deterministic per tenant: the same inputs seal to the same root.
    const s2 = (await (await call('POST', '/evidence/snapshot', { json: body })).json()) as typeof s1;
    assert.notEqual(s2.bundleId, s1.bundleId);
    assert.equal(s2.rootHash, s1.rootHash);

    const url = `/evidence/${s1.bundleId}/portable?withhold=outputs/verdict.json&keepMetadata=ticket&keepMetadata=pipeline`;
    const res = await call('GET', url);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/gzip');
    assert.match(res.headers.get('content-disposition') ?? '', /portable-bundle-v1\.tgz/);
    const tgz = Buffer.from(await res.arrayBuffer());
    assert.ok(tgz.equals(Buffer.from(await (await call('GET', url)).arrayBuffer())), 'deterministic');
    // No tenant id anywhere in the bytes (the tar stream, and every extracted file below).
    assert.ok(!gunzipSync(tgz).includes(TENANT));

    const out = join(dir.path, 'portable');
    await mkdir(out);
    await writeFile(join(dir.path, 'portable-bundle-v1.tgz'), tgz);
    assert.equal((await run('tar', ['-xzf', join(dir.path, 'portable-bundle-v1.tgz'), '-C', out])).code, 0);
    const grep = await run('grep', ['-r', '-l', '-F', TENANT, '.'], { cwd: out });
    assert.equal(grep.code, 1, `tenant id found in: ${grep.stdout.toString()}`);
    const view = JSON.parse(await readFile(join(out, 'portable.json'), 'utf8')) as {
      artifacts: { path: string }[];
      withheld: string[];
      metadata?: Record<string, unknown>;
      subject?: Record<string, unknown>;
    };
    assert.deepEqual(view.withheld, ['outputs/verdict.json']);
    assert.ok(
      view.artifacts.some((a) => a.path === 'outputs/verdict.json'),
      'the withheld entry stays',
    );
    assert.deepEqual(view.metadata, { ticket: 'CHG-9' });
    assert.deepEqual(Object.keys(view.subject ?? {}), ['digest']);
    const redactions = JSON.parse(await readFile(join(out, 'redactions.json'), 'utf8')) as {
      redactions: { pointer: string; reason: string }[];
    };
    assert.deepEqual(
      redactions.redactions.map((r) => r.pointer),
      ['/tenant', '/subject/name', '/metadata/pipeline', '/metadata/policy'],
    );
    assert.equal(redactions.redactions[2]!.reason, 'mentions the tenant id');
    await assert.rejects(readFile(join(out, 'artifacts/outputs/verdict.json')), { code: 'ENOENT' });
    // The withheld entry hides its content: its commitment is not any function of the digest alone.
    assert.ok(!(await readFile(join(out, 'portable.json'), 'utf8')).includes(sha(VERDICT)));
    assert.ok(!(await readFile(join(out, 'openings.jsonl'), 'utf8')).includes(sha(VERDICT)));

    // verify-offline.sh: no network, only sh + sha256sum + openssl; with the server's key as trusted key.
    const sealed = (await (await call('GET', `/evidence/${s1.bundleId}`)).json()) as { keyId: string };
    const keyPem = await readFile(join(out, 'keys/seal.pub.pem'), 'utf8');
    const trusted = join(dir.path, 'trusted.pub.pem');
    await writeFile(trusted, keyPem);
    const sh = await runVerifyOffline(out, ['--key', trusted]);
    assert.equal(sh.code, 0, sh.stdout.toString() + sh.stderr.toString());
    const shOut = sh.stdout.toString();
    assert.match(shOut, /^PASS artifact:outputs\/verdict\.json withheld/m);
    assert.match(shOut, new RegExp(`^PASS merkle: root ${s1.rootHash} over 5 leaves`, 'm'));
    assert.match(shOut, /^OK: 4 present and 1 withheld artifact\(s\)/m);
    // Our verifier agrees (the path `stella evidence verify` takes).
    const report = await verifyBundle(tgz, { publicKeyPem: keyPem });
    assert.equal(report.ok, true, JSON.stringify(report.checks.filter((c) => c.status !== 'pass')));
    assert.equal(report.format, 'portable');
    assert.deepEqual(report.withheld, ['outputs/verdict.json']);
    assert.equal(report.rootHash, s1.rootHash);
    assert.equal(report.checks.find((c) => c.check === 'statement')?.status, 'pass');

    // The seal, checked by tools we did not write: openssl over the PAE, and securesystemslib.
    const ossl = await run('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      trusted,
      '-rawin',
      '-in',
      join(out, 'signature.pae'),
      '-sigfile',
      join(out, 'signature.sig'),
    ]);
    assert.equal(ossl.code, 0, ossl.stderr.toString());
    if (!noSslib) {
      const key = createPublicKey(keyPem);
      const arg =
        key.asymmetricKeyType === 'ed25519'
          ? `ed25519:${key.export({ type: 'spki', format: 'der' }).subarray(12).toString('hex')}`
          : `ecdsa:${trusted}`;
      const py = await run(PY, [VERIFY_DSSE, join(out, 'signature.json'), arg]);
      assert.equal(py.code, 0, py.stdout.toString() + py.stderr.toString());
      assert.match(py.stdout.toString(), /1\/1 valid/);
      assert.ok(sealed.keyId.length > 0);
    }

    // Flip one byte of one present artifact, re-pack with GNU tar: both verifiers name it.
    const victim = join(out, 'artifacts/outputs/vex.csaf.json');
    const bytes = await readFile(victim);
    bytes[50] = bytes[50]! ^ 0x01;
    await writeFile(victim, bytes);
    const bad = await runVerifyOffline(out, ['--key', trusted]);
    assert.equal(bad.code, 3, bad.stdout.toString());
    assert.match(bad.stdout.toString(), /^FAIL checksum:artifacts\/outputs\/vex\.csaf\.json/m);
    assert.match(bad.stdout.toString(), /^FAIL artifact:outputs\/vex\.csaf\.json sha256 is /m);
    assert.doesNotMatch(bad.stdout.toString(), /^FAIL (signature|merkle)/m);
    const entries = (await readdir(out)).sort();
    assert.equal((await run('tar', ['-czf', join(dir.path, 'tampered.tgz'), '-C', out, ...entries])).code, 0);
    const tampered = await verifyBundle(await readFile(join(dir.path, 'tampered.tgz')), { publicKeyPem: keyPem });
    assert.equal(tampered.ok, false);
    assert.deepEqual(
      tampered.checks.filter((c) => c.status === 'fail').map((c) => c.check),
      ['checksum:artifacts/outputs/vex.csaf.json', 'artifact:outputs/vex.csaf.json'],
    );

    // Custody: one export row per export, and the outbox event for the Timeline Indexer.
    const custody = await rt.db.withTenant(TENANT, (tx) =>
      tx.query<{ action: string; details: { withheld: string[] } }>(
        `SELECT action, details FROM evidence_locker.custody_events WHERE bundle_id = $1 AND action = 'export'`,
        [s1.bundleId],
      ),
    );
    assert.equal(custody.rows.length, 2);
    assert.deepEqual(custody.rows[0]!.details.withheld, ['outputs/verdict.json']);
    const outbox = await rt.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM stella_platform.outbox WHERE kind = 'evidence.custody.exported'`,
    );
    assert.equal(outbox.rows[0]!.n, '2');

    // Bad input: every unknown path listed; unknown metadata member; bad and missing ids.
    const unknown = await call('GET', `/evidence/${s1.bundleId}/portable?withhold=nope/a&withhold=../b`);
    assert.equal(unknown.status, 400);
    const ub = (await unknown.json()) as ErrorBody;
    assert.equal(ub.code, 'VALIDATION_FAILED');
    assert.deepEqual(ub.details?.unknown, ['nope/a', '../b']);
    const meta = await call('GET', `/evidence/${s1.bundleId}/portable?keepMetadata=absent`);
    assert.equal(((await meta.json()) as ErrorBody).code, 'VALIDATION_FAILED');
    assert.equal((await call('GET', '/evidence/not-an-id/portable')).status, 400);
    const missing = await call('GET', '/evidence/01J00000000000000000000000/portable');
    assert.equal(((await missing.json()) as ErrorBody).code, 'EVIDENCE_NOT_FOUND');
    const extra = await call('GET', `/evidence/${s1.bundleId}/portable?other=1`);
    assert.equal(extra.status, 400);
    // Bad input recorded nothing.
    const after = await rt.db.withTenant(TENANT, (tx) =>
      tx.query<{ n: string }>(`SELECT count(*)::text AS n FROM evidence_locker.custody_events WHERE action = 'export'`),
    );
    assert.equal(after.rows[0]!.n, '2');
    assert.ok(bytesOf.size === 4);
  } finally {
    await rt.close();
    await dir.cleanup();
  }
}

describe('evidence locker: portable export (PGlite)', { skip: skipTools }, () => {
  test('withhold, redact, verify offline with sh/sha256sum/openssl; a flipped byte is named', async () => {
    await portableFlow({});
  });
});

describe(
  'evidence locker: portable export on PostgreSQL',
  { skip: skipTools || (await needService('postgres')) },
  () => {
    test('the same flow on real PostgreSQL (RLS) and the filesystem store', async () => {
      const db = await createTestDatabase('evidence_portable');
      try {
        await portableFlow({ STELLA_DATABASE_URL: db.url });
      } finally {
        await db.drop();
      }
    });
  },
);

describe('evidence locker: snapshot kind schemas on POST /evidence/snapshot', () => {
  test('a snapshot its kind does not accept is 400 listing every problem; nothing is sealed', async () => {
    const dir = await tempDir('stella-kinds-');
    const { rt, call } = await start({}, dir.path);
    try {
      const inline = (path: string, role: string) => ({
        path,
        role,
        mediaType: 'application/json',
        content: Buffer.from('{}').toString('base64'),
      });
      const res = await call('POST', '/evidence/snapshot', {
        json: { kind: 'export', artifacts: [inline('in.json', 'input')], metadata: { runId: 7 } },
      });
      assert.equal(res.status, 400);
      const b = (await res.json()) as ErrorBody & { details: { schema: string; problems: { pointer: string }[] } };
      assert.equal(b.code, 'VALIDATION_FAILED');
      assert.equal(b.details.schema, 'https://stella-ops.org/schemas/evidence-snapshot/export/v1');
      assert.deepEqual(
        b.details.problems.map((p) => p.pointer),
        ['/', '/artifacts', '/metadata/runId'],
      );
      const n = await rt.db.withTenant(TENANT, (tx) =>
        tx.query<{ n: string }>('SELECT count(*)::text AS n FROM evidence_locker.bundles'),
      );
      assert.equal(n.rows[0]!.n, '0');
      const ok = await call('POST', '/evidence/snapshot', {
        json: {
          kind: 'job',
          artifacts: [inline('run.log', 'log')],
          metadata: { jobId: 'j-1', status: 'succeeded' },
        },
      });
      assert.equal(ok.status, 201);
    } finally {
      await rt.close();
      await dir.cleanup();
    }
  });
});
