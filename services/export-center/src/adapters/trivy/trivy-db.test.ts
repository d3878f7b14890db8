/**
 * `trivy:db` on the real datasets (OSV: Go vulndb, RustSec, PyPA, GHSA fixtures; Alpine secdb
 * 3.10/3.11), imported with the real importers: go.etcd.io/bbolt's tx.Check passes; trivy-db's own
 * reader (GetAdvisories the way Trivy's detectors call it, GetVulnerability, metadata) returns
 * every advisory as the source records state it; db.tar.gz holds exactly trivy.db + metadata.json;
 * same input → byte-identical trivy.db and db.tar.gz.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { readdir, readFile, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { datasetsDir, goHarness, needGo, needTool, run, tempDir } from '@stella/testkit';
import { createStagingSink } from '../../bundle/staging-sink.js';
import { importerOf } from '../../sources/importers/registry.js';
import type { SourceRecord } from '../../sources/source-record.js';
import { iterate, ledgerOrder } from '../../testing/index.js';
import { getAdapter } from '../registry.js';
import { normalizePkgName, osvDataSource } from './mapping.js';

const adapter = getAdapter('trivy:db');
const skip = needGo() || needTool('tar');

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}

/** The dataset files through the real importers, as ledger records. */
async function datasetAdvisories(): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  let seq = 0n;
  const add = async (format: 'osv' | 'alpine-secdb', file: string): Promise<void> => {
    for await (const item of importerOf(format).read(createReadStream(file), 'advisory')) {
      assert.ok('record' in item, `${file}: ${JSON.stringify(item)}`);
      const r = item.record;
      out.push({
        kind: r.kind,
        recordId: r.recordId,
        tenant: null,
        project: null,
        ledgerSeq: ++seq,
        digest: r.digest,
        format: r.format,
        ecosystem: r.ecosystem,
        packages: r.packages,
        severity: r.severity,
        modifiedAt: r.modifiedAt,
        document: JSON.parse(r.canonical) as unknown,
      });
    }
  };
  for (const sub of ['osv/go-vulndb', 'osv/rustsec', 'osv/pypi-pysec', 'osv/ghsa-trivy-db-testdata'])
    for (const f of await filesUnder(join(datasetsDir, sub))) await add('osv', f);
  for (const v of ['v3.10', 'v3.11'])
    for (const f of ['main.json', 'community.json']) await add('alpine-secdb', join(datasetsDir, 'alpine-secdb', v, f));
  return ledgerOrder(out);
}

let dir: { path: string; cleanup: () => Promise<void> };
let records: SourceRecord[];
before(async () => {
  dir = await tempDir('stella-trivy-');
  if (!skip) records = await datasetAdvisories();
});
after(async () => {
  await dir?.cleanup();
});

async function exportDb(name: string, recs: SourceRecord[], options: unknown = {}, exportTime: string | null = null) {
  const v = adapter.validateOptions(options);
  assert.ok(v.ok, JSON.stringify(v));
  const s = await createStagingSink(join(dir.path, name));
  const result = await adapter.write({
    records: iterate(recs),
    options: v.options,
    out: s,
    signal: new AbortController().signal,
    progress: () => undefined,
    exportTime,
  });
  return { dir: s.dir, counts: result.counts, files: s.files() };
}

interface Adv {
  VulnerabilityID: string;
  VendorIDs?: string[];
  OSes?: string[];
  Arches?: string[];
  FixedVersion?: string;
  VulnerableVersions?: string[];
  PatchedVersions?: string[];
  DataSource?: { ID: string; Name: string; URL: string };
}

const OSV_SLUGS: Record<string, string> = {
  go: 'go',
  npm: 'npm',
  pypi: 'pip',
  'crates.io': 'cargo',
  packagist: 'composer',
  maven: 'maven',
  nuget: 'nuget',
  swifturl: 'swift',
};

type Doc = Record<string, any>;

/** What the test expects Trivy to read for one OSV record, derived from the raw document. */
function expectedOsv(doc: Doc): { slug: string; pkg: string; ids: string[]; fixed: string[]; source: string }[] {
  if (doc.withdrawn) return []; // withdrawn entries are not exported (counted as skipped.withdrawn)
  const aliases = [...new Set([...(doc.aliases ?? []), ...(doc.upstream ?? [])])] as string[];
  const cves = [...aliases, doc.id as string].filter((a) => a.startsWith('CVE-'));
  const ids = cves.length ? cves : [doc.id as string];
  const out = new Map<string, { slug: string; pkg: string; ids: string[]; fixed: string[]; source: string }>();
  for (const a of doc.affected ?? []) {
    const slug =
      OSV_SLUGS[
        String(a.package?.ecosystem ?? '')
          .toLowerCase()
          .split(':')[0]!
      ];
    if (!slug) continue;
    const fixed = (a.ranges ?? [])
      .filter((r: Doc) => r.type !== 'GIT')
      .flatMap((r: Doc) => (r.events ?? []).map((e: Doc) => e.fixed).filter((f: unknown) => typeof f === 'string'));
    const key = `${slug}/${a.package.name}`;
    const prev = out.get(key);
    if (prev) prev.fixed.push(...fixed);
    else out.set(key, { slug, pkg: a.package.name, ids, fixed, source: osvDataSource(doc.id, slug).Name });
  }
  return [...out.values()];
}

describe('trivy:db on the real datasets', { skip }, () => {
  let first: Awaited<ReturnType<typeof exportDb>>;
  before(async () => {
    first = await exportDb('a', records);
    if (process.env.TRIVY_DB_COUNTS) console.log(JSON.stringify(first.counts));
  });

  test('files, counts, metadata.json and determinism (trivy.db and db.tar.gz byte-identical)', async () => {
    // trivy/oci/… (the OCI layout of db.tar.gz) is checked in trivy-oci.test.ts.
    assert.deepEqual(
      first.files
        .map((f) => f.path)
        .filter((p) => !p.startsWith('trivy/oci/'))
        .sort(),
      ['trivy/db.tar.gz', 'trivy/metadata.json', 'trivy/trivy.db'],
    );
    assert.equal(first.counts['records'], records.length);
    assert.ok((first.counts['trivy.advisories'] ?? 0) > 1000, JSON.stringify(first.counts));
    assert.ok((first.counts['format.alpine-secdb'] ?? 0) > 400);
    const meta = await readFile(join(first.dir, 'trivy/metadata.json'), 'utf8');
    const newest = records
      .map((r) => r.modifiedAt)
      .filter((m): m is string => !!m)
      .sort()
      .at(-1)!;
    const updated = new Date(newest);
    assert.equal(
      meta,
      `{"Version":2,"NextUpdate":"${new Date(updated.getTime() + 86_400_000).toISOString().replace('.000Z', 'Z')}",` +
        `"UpdatedAt":"${updated.toISOString().replace('.000Z', 'Z')}","DownloadedAt":"0001-01-01T00:00:00Z"}\n`,
    );
    const second = await exportDb('b', records);
    for (const f of ['trivy/trivy.db', 'trivy/db.tar.gz', 'trivy/metadata.json'])
      assert.ok((await readFile(join(first.dir, f))).equals(await readFile(join(second.dir, f))), `${f} identical`);
    assert.deepEqual(second.counts, first.counts);
    // db.tar.gz: exactly the two files at the root, the same bytes (GNU tar reads it).
    const list = await run('tar', ['-tzvf', join(first.dir, 'trivy/db.tar.gz')]);
    assert.deepEqual(
      list.stdout
        .toString()
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/).at(-1)),
      ['metadata.json', 'trivy.db'],
    );
    const x = join(dir.path, 'x');
    await mkdir(x);
    assert.equal((await run('tar', ['-xzf', join(first.dir, 'trivy/db.tar.gz'), '-C', x])).code, 0);
    assert.ok((await readFile(join(x, 'trivy.db'))).equals(await readFile(join(first.dir, 'trivy/trivy.db'))));
    assert.equal(await readFile(join(x, 'metadata.json'), 'utf8'), meta);
    // A fixed export time is used instead of the newest record.
    const timed = await exportDb('c', records.slice(0, 5), { nextUpdateHours: 6 }, '2026-11-27T04:00:00.000Z');
    assert.equal(
      await readFile(join(timed.dir, 'trivy/metadata.json'), 'utf8'),
      '{"Version":2,"NextUpdate":"2026-11-27T10:00:00Z","UpdatedAt":"2026-11-27T04:00:00Z","DownloadedAt":"0001-01-01T00:00:00Z"}\n',
    );
  });

  test('bbolt tx.Check passes, and a read-write commit by bbolt works', async () => {
    const r = await run(
      await goHarness('bbolt-check'),
      ['-rw', '-compact', '-no-dump', join(first.dir, 'trivy/trivy.db')],
      {
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.code, 0, r.stderr.toString());
    const dump = JSON.parse(r.stdout.toString()) as {
      check: string[];
      rwCheck: string[];
      stats: Record<string, { keyN: number }>;
      compactStats: Record<string, { keyN: number }>;
    };
    assert.deepEqual(dump.check, []);
    assert.deepEqual(dump.rwCheck, []);
    assert.deepEqual(dump.stats, dump.compactStats, 'pages packed like bbolt.Compact');
    const names = Object.keys(dump.stats).map((h) => Buffer.from(h, 'hex').toString());
    for (const want of [
      'alpine 3.10',
      'alpine 3.11',
      'cargo::RustSec Advisory Database',
      'data-source',
      'go::The Go Vulnerability Database',
      'pip::PyPA Advisory Database',
      'npm::GitHub Security Advisory npm',
      'maven::GitHub Security Advisory Maven',
      'vulnerability',
    ])
      assert.ok(names.includes(want), `bucket ${want} in ${names.join(' | ')}`);
    assert.ok(!names.some((n) => ['vulnerability-detail', 'advisory-detail', 'vulnerability-id'].includes(n)));
    assert.equal(dump.stats[Buffer.from('data-source').toString('hex')]!.keyN, names.length - 2);
  });

  test('trivy-db reads every advisory back as the sources state it (GetAdvisories, alpine Get, GetVulnerability)', async () => {
    const dbDir = join(dir.path, 'cache', 'db');
    await mkdir(dbDir, { recursive: true });
    await copyFile(join(first.dir, 'trivy/trivy.db'), join(dbDir, 'trivy.db'));
    await copyFile(join(first.dir, 'trivy/metadata.json'), join(dbDir, 'metadata.json'));

    const lang: { ecosystem: string; pkg: string }[] = [];
    const alpine: { release: string; pkg: string }[] = [];
    const vulns = new Set<string>();
    const seenLang = new Set<string>();
    for (const r of records) {
      const doc = r.document as Doc;
      if (r.format === 'osv') {
        for (const e of expectedOsv(doc)) {
          const k = `${e.slug}\0${e.pkg}`;
          if (!seenLang.has(k)) lang.push({ ecosystem: e.slug, pkg: e.pkg });
          seenLang.add(k);
          e.ids.forEach((id) => vulns.add(id));
        }
      } else alpine.push({ release: String(doc.distroversion).replace(/^v/, ''), pkg: doc.pkg.name });
    }
    const query = join(dir.path, 'query.json');
    await writeFile(query, JSON.stringify({ dir: dbDir, lang, alpine, vulnerabilities: [...vulns] }));
    const res = await run(await goHarness('trivydb-read'), [query], { timeoutMs: 300_000 });
    assert.equal(res.code, 0, res.stderr.toString());
    const got = JSON.parse(res.stdout.toString()) as {
      metadata: { Version: number };
      lang: { ecosystem: string; pkg: string; normalized: string; advisories: Adv[]; error?: string }[];
      alpine: { release: string; pkg: string; advisories: Adv[]; error?: string }[];
      vulnerabilities: Record<string, { Title?: string; Description?: string; References?: string[]; error?: string }>;
    };
    assert.equal(got.metadata.Version, 2);
    const langBy = new Map(got.lang.map((l) => [`${l.ecosystem}\0${l.pkg}`, l]));
    // GetAdvisories("<eco>::", pkg) merges every bucket with that prefix into one map keyed by vuln
    // id, so when two sources state the same id for a package, Trivy sees the one in the bucket that
    // sorts last; within one bucket the last record wins (documented precedence).
    const winners = new Map<string, { doc: Doc; e: ReturnType<typeof expectedOsv>[number]; id: string }>();
    const lastDetail = new Map<string, Doc>();
    for (const r of records.filter((x) => x.format === 'osv')) {
      const doc = r.document as Doc;
      for (const e of expectedOsv(doc))
        for (const id of e.ids) {
          const k = `${e.slug}\0${e.pkg}\0${id}`;
          const prev = winners.get(k);
          if (!prev || Buffer.compare(Buffer.from(e.source), Buffer.from(prev.e.source)) >= 0)
            winners.set(k, { doc, e, id });
          lastDetail.set(id, doc);
        }
    }
    let checked = 0;
    for (const { doc, e, id } of winners.values()) {
      const l = langBy.get(`${e.slug}\0${e.pkg}`)!;
      assert.equal(l.error, undefined);
      assert.equal(l.normalized, normalizePkgName(e.slug, e.pkg));
      const adv = l.advisories.find((a) => a.VulnerabilityID === id);
      assert.ok(adv, `${doc.id}: ${e.slug}/${e.pkg} ${id} read back`);
      assert.equal(adv.DataSource?.Name, e.source, `${doc.id}: ${e.slug}/${e.pkg} ${id} from ${e.source}`);
      assert.deepEqual(adv.PatchedVersions ?? [], e.fixed, `${doc.id} ${e.pkg}: patched versions`);
      assert.ok((adv.VulnerableVersions ?? []).length > 0 || e.fixed.length === 0, `${doc.id}: vulnerable versions`);
      const others = [...(doc.aliases ?? []), doc.id].filter(
        (a: string) => !e.ids.includes(a) && !a.startsWith('CVE-'),
      );
      for (const o of others) assert.ok(adv.VendorIDs?.includes(o), `${doc.id}: VendorIDs has ${o}`);
      checked++;
    }
    // Nothing else is there: per package, exactly the ids the sources state.
    for (const l of got.lang) {
      const ids = l.advisories.map((a) => a.VulnerabilityID).sort();
      const want = [...winners.keys()]
        .filter((k) => k.startsWith(`${l.ecosystem}\0${l.pkg}\0`))
        .map((k) => k.split('\0')[2]!)
        .sort();
      assert.deepEqual(ids, want, `${l.ecosystem}/${l.pkg}`);
    }
    assert.ok(checked > 1000, `${checked} OSV advisories checked`);
    // Every vulnerability id resolves; single-record ids carry that record's summary and details.
    const recordsPerId = new Map<string, number>();
    for (const r of records.filter((x) => x.format === 'osv'))
      for (const id of new Set(expectedOsv(r.document as Doc).flatMap((e) => e.ids)))
        recordsPerId.set(id, (recordsPerId.get(id) ?? 0) + 1);
    for (const id of vulns) {
      const v = got.vulnerabilities[id]!;
      assert.equal(v.error, undefined, `${id}: ${v.error}`);
      if (recordsPerId.get(id) !== 1) continue;
      const doc = lastDetail.get(id)!;
      assert.equal(v.Title, doc.summary || undefined, `${id} title`);
      assert.equal(v.Description, doc.details || undefined, `${id} description`);
      for (const ref of doc.references ?? [])
        assert.ok(v.References?.some((x) => x.toLowerCase() === String(ref.url).toLowerCase()));
    }
    // Alpine: every secfixes entry is read back under its CVE (the last version listing it wins).
    let alpineChecked = 0;
    for (const [i, r] of records.filter((x) => x.format === 'alpine-secdb').entries()) {
      const doc = r.document as Doc;
      const a = got.alpine[i]!;
      assert.equal(a.error, undefined);
      const want = new Map<string, string>();
      for (const [ver, ids] of Object.entries((doc.pkg.secfixes ?? {}) as Record<string, string[]>))
        for (const raw of ids) {
          const parts = raw.split(/\s+/).map((p) => p.replaceAll('CVE_', 'CVE-'));
          const id = parts.find((p) => p.startsWith('CVE-')) ?? parts.filter((p) => p.startsWith('GHSA-')).at(-1);
          if (id) want.set(id, ver);
        }
      const reads = new Map(a.advisories.map((x) => [x.VulnerabilityID, x]));
      // Two secdb records (main, community) may name the same package; both merge in one bucket.
      for (const [id, ver] of want) {
        const adv = reads.get(id);
        assert.ok(adv, `alpine ${a.release} ${a.pkg} ${id}`);
        assert.equal(adv.DataSource?.Name, 'Alpine Secdb');
        assert.equal(adv.FixedVersion, ver, `alpine ${a.release} ${a.pkg} ${id}`);
        alpineChecked++;
      }
    }
    assert.ok(alpineChecked > 1000, `${alpineChecked} Alpine advisories checked`);
  });

  test('non-advisory formats and unknown ecosystems are counted, not dropped silently', async () => {
    const doc = {
      id: 'TEST-2026-0001',
      modified: '2026-01-01T00:00:00Z',
      aliases: ['CVE-2026-0001'],
      affected: [
        { package: { ecosystem: 'Alpine:v3.18', name: 'openssl' }, ranges: [] },
        {
          package: { ecosystem: 'npm', name: 'Left-Pad' },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.3.0' }] }],
        },
      ],
    };
    const rec: SourceRecord = { ...records.find((r) => r.format === 'osv')!, recordId: doc.id, document: doc };
    // Versions Trivy's comparers refuse (npm: strict SemVer; pip: PEP 440) are exported and named.
    const odd = {
      id: 'TEST-2026-0002',
      modified: '2026-01-01T00:00:00Z',
      affected: [
        {
          package: { ecosystem: 'npm', name: 'a' },
          ranges: [{ type: 'SEMVER', events: [{ introduced: '1.0' }, { fixed: '1.2.0' }] }],
        },
        {
          package: { ecosystem: 'PyPI', name: 'b' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.0.0.final-x' }] }],
        },
        {
          package: { ecosystem: 'PyPI', name: 'c' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '1.0rc1' }, { fixed: '1.0.post2' }] }],
        },
        { package: { ecosystem: 'crates.io', name: 'd' }, versions: ['0.1.0', 'not a version'] },
      ],
    };
    const oddRec: SourceRecord = { ...rec, recordId: odd.id, document: odd };
    const out = await exportDb('unknown', [rec, oddRec]);
    assert.equal(out.counts['unknownEcosystem.Alpine:v3.18'], 1);
    assert.equal(out.counts['trivy.advisories'], 5, 'the odd versions are still exported');
    assert.equal(out.counts['versions.uncomparable.npm'], 1);
    assert.equal(out.counts['versions.uncomparable.pip'], 1, 'PEP 440 pre/post releases are fine');
    assert.equal(out.counts['versions.uncomparable.cargo'], 1);
    assert.equal(out.counts['versions.uncomparable.record.TEST-2026-0002'], 3);
    assert.equal(out.counts['versions.uncomparable.record.TEST-2026-0001'], undefined);
    const db = await run(await goHarness('bbolt-check'), [join(out.dir, 'trivy/trivy.db')]);
    const dump = JSON.parse(db.stdout.toString()) as {
      buckets: { k: string; items: { k: string; items?: { k: string; v: string }[] }[] }[];
    };
    const npm = dump.buckets.find((b) => Buffer.from(b.k, 'hex').toString() === 'npm::Open Source Vulnerabilities')!;
    const leftPad = npm.items.find((i) => Buffer.from(i.k, 'hex').toString() === 'left-pad');
    assert.ok(leftPad, 'package names normalised as Trivy looks them up');
    assert.equal(
      Buffer.from(leftPad.items![0]!.v, 'hex').toString(),
      '{"VendorIDs":["TEST-2026-0001"],"VulnerableVersions":["<1.3.0"],"PatchedVersions":["1.3.0"]}',
    );
  });

  test('a source failing mid-stream, or a cancel, rejects and leaves no file and no temp dir', async () => {
    const tmpBefore = (await readdir(tmpdir())).filter((n) => n.startsWith('stella-trivy-db-'));
    const v = adapter.validateOptions({});
    assert.ok(v.ok);
    const failing = (async function* () {
      yield* records.slice(0, 50);
      throw new Error('ledger connection lost');
    })();
    const s1 = await createStagingSink(join(dir.path, 'failing'));
    const base = { options: v.options, out: s1, progress: () => undefined, exportTime: null };
    await assert.rejects(
      adapter.write({ ...base, records: failing, signal: new AbortController().signal }),
      /ledger connection lost/,
    );
    assert.deepEqual(s1.files(), []);
    const ac = new AbortController();
    const cancelling = (async function* () {
      for (const [i, r] of records.entries()) {
        if (i === 100) ac.abort(new Error('run cancelled'));
        yield r;
      }
    })();
    const s2 = await createStagingSink(join(dir.path, 'cancel'));
    await assert.rejects(adapter.write({ ...base, out: s2, records: cancelling, signal: ac.signal }), /run cancelled/);
    assert.deepEqual(s2.files(), []);
    const tmpAfter = (await readdir(tmpdir())).filter((n) => n.startsWith('stella-trivy-db-'));
    assert.deepEqual(tmpAfter, tmpBefore, 'work dir removed');
    // A write whose options did not pass validateOptions is refused with a coded error.
    await assert.rejects(
      adapter.write({
        ...base,
        options: { schemaVersion: 1 },
        records: iterate([]),
        signal: new AbortController().signal,
      }),
      (e: { code?: string }) => e.code === 'EXPORT_PROFILE_INVALID',
    );
  });

  test('options: schemaVersion other than 2 is refused with every problem at once', () => {
    const bad = adapter.validateOptions({ schemaVersion: 3, nextUpdateHours: 0, extra: true });
    assert.equal(bad.ok, false);
    assert.deepEqual((bad as { problems: { path: string }[] }).problems.map((p) => p.path).sort(), [
      '/extra',
      '/nextUpdateHours',
      '/schemaVersion',
    ]);
    assert.match(JSON.stringify(bad), /schema 3 is not supported/);
    assert.deepEqual(adapter.validateOptions(undefined), {
      ok: true,
      options: { schemaVersion: 2, nextUpdateHours: 24, gzipLevel: 6, ociLayout: true },
    });
  });
});
