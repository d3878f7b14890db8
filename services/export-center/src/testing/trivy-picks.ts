/**
 * Package versions for the real-trivy scan test (adapters/trivy/trivy-scan.test.ts), picked from
 * the source records, with the findings Trivy must report computed from the same records (see that
 * test's header for the rules).
 */
import assert from 'node:assert/strict';
import type { SourceRecord } from '../sources/source-record.js';
import { normalizePkgName, osvDataSource } from '../adapters/trivy/mapping.js';

type Doc = Record<string, any>;

const OSV_SLUGS: Record<string, string> = { npm: 'npm', pypi: 'pip', go: 'go', 'crates.io': 'cargo', maven: 'maven' };

/** The vuln ids Trivy reports for a record (trivy-db osv: CVE aliases, else the record id). */
export function vulnIds(doc: Doc): string[] {
  const all = [...new Set([...(doc.aliases ?? []), ...(doc.upstream ?? [])]), doc.id] as string[];
  const cves = all.filter((a) => a.startsWith('CVE-'));
  return cves.length ? [...new Set(cves)] : [doc.id];
}

export interface LangPick {
  slug: string;
  name: string;
  version: string;
  /** Expected findings: id → fixed version string; empty for the clean pick. */
  expect: Map<string, string>;
}

const SIMPLE: Record<string, RegExp> = {
  npm: /^\d+\.\d+\.\d+$/,
  pip: /^\d+(\.\d+){1,3}$/,
  go: /^\d+\.\d+\.\d+$/,
  cargo: /^\d+\.\d+\.\d+$/,
  maven: /^\d+(\.\d+){1,3}$/,
};

/** A Go module version that go.mod accepts for that path (major version suffix rules). */
function goVersionFits(path: string, v: string): boolean {
  const major = Number(v.split('.')[0]);
  const suffix = /\/v(\d+)$/.exec(path);
  return suffix ? Number(suffix[1]) === major : major <= 1;
}

/** Per ecosystem: up to `n` vulnerable picks and one clean pick, all from single-record packages. */
export function languagePicks(records: SourceRecord[], n: number): LangPick[] {
  const byPkg = new Map<string, { slug: string; name: string; docs: Map<string, Doc>; affected: Doc[] }>();
  for (const r of records) {
    if (r.format !== 'osv') continue;
    const doc = r.document as Doc;
    if (doc.withdrawn) continue;
    for (const a of doc.affected ?? []) {
      const slug = OSV_SLUGS[String(a.package?.ecosystem ?? '').toLowerCase()];
      if (!slug || typeof a.package.name !== 'string') continue;
      const key = `${slug}\0${normalizePkgName(slug, a.package.name)}`;
      const e = byPkg.get(key) ?? {
        slug,
        name: a.package.name as string,
        docs: new Map<string, Doc>(),
        affected: [] as Doc[],
      };
      e.docs.set(doc.id, doc);
      e.affected.push(a);
      byPkg.set(key, e);
    }
  }
  const picks: LangPick[] = [];
  for (const slug of Object.values(OSV_SLUGS)) {
    const single = [...byPkg.entries()]
      .filter(([k, e]) => k.startsWith(`${slug}\0`) && e.docs.size === 1 && !['stdlib', 'toolchain'].includes(e.name))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([, e]) => e);
    const ranges = (e: (typeof single)[number]): Doc[][] =>
      e.affected.flatMap((a) =>
        ((a.ranges ?? []) as Doc[]).filter((r) => r.type !== 'GIT').map((r) => (r.events ?? []) as Doc[]),
      );
    const fixedOf = (e: (typeof single)[number]) =>
      [
        ...new Set(ranges(e).flatMap((ev: Doc[]) => ev.map((x) => x.fixed).filter((f) => typeof f === 'string'))),
      ] as string[];
    const fits = (e: (typeof single)[number], v: string) =>
      SIMPLE[slug]!.test(v) && (slug !== 'go' || goVersionFits(e.name, v));
    let vulnerable = 0;
    let clean = false;
    for (const e of single) {
      const doc = [...e.docs.values()][0]!;
      const fixed = fixedOf(e);
      if (vulnerable < n) {
        const v = ranges(e)
          .flatMap((ev: Doc[]) => ev.map((x) => x.introduced))
          .find((i: unknown) => typeof i === 'string' && i !== '0' && fits(e, i) && !fixed.includes(i));
        if (v) {
          const expect = new Map(vulnIds(doc).map((id) => [id, fixed.join(', ')]));
          picks.push({ slug, name: e.name, version: slug === 'go' ? `v${v}` : v, expect });
          vulnerable++;
          continue;
        }
      }
      // Clean: one range `introduced < fixed` and the installed version is that fixed version.
      const rs = ranges(e);
      if (!clean && rs.length === 1 && rs[0]!.length === 2 && fixed.length === 1 && fits(e, fixed[0]!)) {
        picks.push({ slug, name: e.name, version: slug === 'go' ? `v${fixed[0]}` : fixed[0]!, expect: new Map() });
        clean = true;
      }
    }
    assert.ok(vulnerable > 0, `a vulnerable ${slug} package in the datasets`);
  }
  return picks;
}

export interface AlpinePick {
  name: string;
  version: string;
  expect: Map<string, string>;
}

type ApkVersion = { nums: number[]; rel: number };
function apkVersion(v: string): ApkVersion | undefined {
  const m = /^(\d+(?:\.\d+)*)-r(\d+)$/.exec(v);
  return m ? { nums: m[1]!.split('.').map(Number), rel: Number(m[2]) } : undefined;
}
function apkCompare(a: ApkVersion, b: ApkVersion): number {
  for (let i = 0; i < Math.max(a.nums.length, b.nums.length); i++) {
    const d = (a.nums[i] ?? -1) - (b.nums[i] ?? -1);
    if (d) return d;
  }
  return a.rel - b.rel;
}

/** trivy-db alpine: the id of one secfixes entry (first CVE, else the last GHSA). */
function alpineId(raw: string): string | undefined {
  const parts = raw.split(/\s+/).map((p) => p.replaceAll('CVE_', 'CVE-'));
  return parts.find((p) => p.startsWith('CVE-')) ?? parts.filter((p) => p.startsWith('GHSA-')).at(-1);
}

export function alpinePicks(records: SourceRecord[], release: string, n: number): AlpinePick[] {
  const perName = new Map<string, Doc[]>();
  for (const r of records) {
    const doc = r.document as Doc;
    if (r.format !== 'alpine-secdb' || doc.distroversion !== `v${release}`) continue;
    perName.set(doc.pkg.name, [...(perName.get(doc.pkg.name) ?? []), doc]);
  }
  const picks: AlpinePick[] = [];
  for (const [name, docs] of [...perName.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (docs.length !== 1 || picks.length >= n) continue;
    const entries: [string, ApkVersion, string][] = [];
    let ok = true;
    const ids = new Set<string>();
    for (const [ver, list] of Object.entries((docs[0]!.pkg.secfixes ?? {}) as Record<string, string[]>)) {
      if (ver === '0') continue;
      const v = apkVersion(ver);
      if (!v) ok = false;
      for (const raw of list ?? []) {
        const id = alpineId(raw);
        if (!id) continue;
        if (ids.has(id)) ok = false;
        ids.add(id);
        if (v) entries.push([ver, v, id]);
      }
    }
    if (!ok || new Set(entries.map((e) => e[0])).size < 2) continue;
    const installed = entries.map((e) => e[1]).sort(apkCompare)[0]!;
    const version = entries.find((e) => apkCompare(e[1], installed) === 0)![0];
    const expect = new Map(entries.filter((e) => apkCompare(e[1], installed) > 0).map((e) => [e[2], e[0]]));
    picks.push({ name, version, expect });
  }
  assert.ok(picks.length > 0);
  return picks;
}

/**
 * Duplicates from two sources (docs/export/trivy-db.md "Merging and precedence"): a package for
 * which two records of different data sources state the same vuln id. Trivy merges the `<slug>::`
 * buckets by id and the bucket whose name sorts last wins. Picked where the winner's ranges are
 * all open (no fix: vulnerable at any version) and the loser names a fix: installed = the loser's
 * fixed version, so Trivy must report the id with the winner's (empty) fixed version — a scan that
 * used the loser would report nothing.
 */
export function duplicatePicks(records: SourceRecord[]): LangPick[] {
  const by = new Map<string, { slug: string; name: string; docs: Doc[] }>();
  for (const r of records) {
    const doc = r.document as Doc;
    if (r.format !== 'osv' || doc.withdrawn) continue;
    for (const a of doc.affected ?? []) {
      const slug = OSV_SLUGS[String(a.package?.ecosystem ?? '').toLowerCase()];
      if (!slug || typeof a.package.name !== 'string') continue;
      for (const id of vulnIds(doc)) {
        const key = `${slug}\0${normalizePkgName(slug, a.package.name)}\0${id}`;
        const e = by.get(key) ?? { slug, name: a.package.name as string, docs: [] as Doc[] };
        if (!e.docs.includes(doc)) e.docs.push(doc);
        by.set(key, e);
      }
    }
  }
  const events = (doc: Doc, name: string): Doc[] =>
    (doc.affected as Doc[])
      .filter((a) => a.package?.name === name)
      .flatMap((a) => ((a.ranges ?? []) as Doc[]).filter((r) => r.type !== 'GIT').flatMap((r) => r.events as Doc[]));
  const picks: LangPick[] = [];
  for (const [key, e] of [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (e.docs.length !== 2) continue;
    const named = e.docs.map((d) => ({ d, source: osvDataSource(d.id, e.slug).Name }));
    if (named[0]!.source === named[1]!.source) continue;
    named.sort((x, y) => Buffer.compare(Buffer.from(x.source), Buffer.from(y.source)));
    const [loser, winner] = [named[0]!.d, named[1]!.d];
    if (events(winner, e.name).some((ev) => ev.fixed || ev.last_affected)) continue;
    const fix = events(loser, e.name).find((ev) => typeof ev.fixed === 'string')?.fixed as string | undefined;
    if (!fix || !SIMPLE[e.slug]!.test(fix)) continue;
    const id = key.split('\0')[2]!;
    picks.push({ slug: e.slug, name: e.name, version: e.slug === 'go' ? `v${fix}` : fix, expect: new Map([[id, '']]) });
  }
  return picks;
}
