/**
 * The Trivy exports through the whole Export Center on real PostgreSQL (issue #14): Maven index
 * rows and advisories imported over HTTP (`POST /v1/sources/artifact` as TSV and JSON Lines,
 * `POST /v1/sources/advisory`), `trivy:java-db` and `trivy:db` profiles, runs on the real engine,
 * downloaded bundles whose signed manifest (export.json) lists the Trivy files with their digests
 * and counts (GNU tar, `sha256sum -c`, `sqlite3`), a rerun byte-identical; a profile whose kinds
 * the adapter cannot export is refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, datasetsDir, needService, needTool, run } from '@stella/testkit';
import { defaultEngine } from '../engine.js';
import { startExportHarness, type ExportHarness } from '../testing/export-harness.js';
import { waitForRun } from '../testing/run-fixtures.js';

const skip = (await needService('postgres')) || needTool('tar') || needTool('sqlite3') || needTool('sha256sum');
const A = 'acme';

describe('trivy:java-db and trivy:db runs through the export API', { skip }, () => {
  let h: ExportHarness;
  let drop: (() => Promise<void>) | undefined;
  before(async () => {
    const db = await createTestDatabase('export_trivy');
    drop = db.drop;
    h = await startExportHarness({
      databaseUrl: db.url,
      engine: defaultEngine,
      env: { STELLA_EXPORT_POLL_MS: '50' },
    });
    await h.startWorker(1);
  });
  after(async () => {
    await h?.close();
    await drop?.();
  });

  async function importBody(kind: string, body: Buffer | string, type: string) {
    const res = await fetch(`${h.url}/v1/sources/${kind}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await h.token(A)}`, 'x-stella-tenant': A, 'content-type': type },
      body,
    });
    const json = (await res.json()) as { imported: number; rejectedCount: number; format: string };
    assert.equal(res.status, 200, JSON.stringify(json));
    return json;
  }

  async function runAndUnpack(profileId: string, name: string) {
    const started = await h.call(A, 'POST', '/v1/exports/runs', { profileId });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await waitForRun(h, A, started.body.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const res = await h.fetch(A, 'GET', `/v1/exports/runs/${started.body.id}/download`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const dir = join(h.dir, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'bundle.tar.gz'), bytes);
    const x = await run('tar', ['-xzf', 'bundle.tar.gz'], { cwd: dir });
    assert.equal(x.code, 0, x.stderr.toString());
    const sums = await run('sha256sum', ['--strict', '-c', 'checksums.txt'], { cwd: dir });
    assert.equal(sums.code, 0, sums.stdout.toString() + sums.stderr.toString());
    const manifest = JSON.parse(await readFile(join(dir, 'export.json'), 'utf8')) as {
      files: { path: string; digest: string; mediaType?: string; size: number }[];
      counts: Record<string, number>;
    };
    return { dir, manifest, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
  }

  test('trivy:java-db: TSV + JSON Lines over HTTP → run → the manifest lists trivy-java.db, metadata.json, javadb.tar.gz', async () => {
    const tsv = await readFile(join(datasetsDir, 'maven-index/derived-from-cyclonedx/dropwizard-1.3.15.tsv'));
    const a = await importBody('artifact', tsv, 'text/tab-separated-values');
    assert.equal(a.format, 'maven-index');
    assert.equal(a.rejectedCount, 0);
    const sha = 'ab'.repeat(20);
    const b = await importBody(
      'artifact',
      `${JSON.stringify({ groupId: 'org.example', artifactId: 'fixture', version: '1.0.0', sha1: sha })}\n`,
      'application/x-ndjson',
    );
    assert.equal(b.imported, 1);

    const refused = await h.call(A, 'POST', '/v1/exports/profiles', {
      name: 'java db of advisories',
      adapter: 'trivy:java-db',
      filter: { kinds: ['advisory'] },
    });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /cannot export advisory/);

    const p = await h.call(A, 'POST', '/v1/exports/profiles', {
      name: 'java db',
      adapter: 'trivy:java-db',
      filter: { kinds: ['artifact'] },
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const first = await runAndUnpack(p.body.id, 'java-a');
    const paths = first.manifest.files.map((f) => f.path);
    for (const f of ['trivy-java.db', 'metadata.json', 'javadb.tar.gz'])
      assert.ok(
        paths.some((p) => p.endsWith(`trivy-java/${f}`)),
        `${f} in ${paths.join(', ')}`,
      );
    const db = first.manifest.files.find((f) => f.path.endsWith('trivy-java/trivy-java.db'))!;
    const dbBytes = await readFile(join(first.dir, db.path));
    assert.equal(db.digest, `sha256:${createHash('sha256').update(dbBytes).digest('hex')}`);
    assert.equal(first.manifest.counts['javadb.indices'], a.imported + 1);
    const q = await run('sqlite3', [
      '-readonly',
      join(first.dir, db.path),
      `PRAGMA integrity_check; SELECT a.group_id || ':' || a.artifact_id || ':' || i.version FROM indices i JOIN artifacts a ON a.id = i.artifact_id WHERE i.sha1 = x'${sha}'`,
    ]);
    assert.equal(q.stdout.toString(), 'ok\norg.example:fixture:1.0.0\n');
    const second = await runAndUnpack(p.body.id, 'java-b');
    assert.equal(second.digest, first.digest, 'a rerun of the same snapshot is byte-identical');
  });

  test('trivy:db: advisories over HTTP → run → the manifest lists trivy.db, metadata.json, db.tar.gz', async () => {
    const osv = await readFile(join(datasetsDir, 'osv/rustsec/RUSTSEC-2016-0001.json'));
    assert.equal((await importBody('advisory', osv, 'application/json')).imported, 1);
    const p = await h.call(A, 'POST', '/v1/exports/profiles', {
      name: 'trivy db',
      adapter: 'trivy:db',
      filter: { kinds: ['advisory'] },
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    const out = await runAndUnpack(p.body.id, 'db-a');
    const paths = out.manifest.files.map((f) => f.path);
    for (const f of ['trivy.db', 'metadata.json', 'db.tar.gz'])
      assert.ok(
        paths.some((p) => p.endsWith(`trivy/${f}`)),
        `${f} in ${paths.join(', ')}`,
      );
    assert.ok((out.manifest.counts['trivy.advisories'] ?? 0) >= 1, JSON.stringify(out.manifest.counts));
  });
});
