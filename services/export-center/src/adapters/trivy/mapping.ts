/**
 * Source records → Trivy DB entries (docs/export/trivy-db.md; spec shared/specs/trivy-db-and-oci.md
 * §1.4–1.5). Mirrors what aquasecurity/trivy-db's builders do (pkg/vulnsrc/osv, ghsa, govulndb,
 * alpine) at the commit trivy v0.74.0 requires, so Trivy reads our DB exactly as it reads its own:
 *
 * - OSV (incl. GHSA, Go vulndb, RustSec, PyPA): per `affected[]` one advisory in bucket
 *   `<slug>::<data source name>` / normalised package name / vuln id. Vuln ids = the CVE aliases
 *   (else the record id); VendorIDs = the other ids. VulnerableVersions from the ranges (`>=a, <b`,
 *   `<=c`, `=v`), PatchedVersions = the `fixed` events. A per-source detail feeds the
 *   `vulnerability` bucket.
 * - Alpine secdb: bucket `alpine <distroversion without v>` / package / CVE (or GHSA) id →
 *   `{"FixedVersion": …}`.
 *
 * The values are JSON with Go `encoding/json`'s field names, order and omitempty rules.
 */
import cvss from 'ae-cvss-calculator';
import type { SourceRecord } from '../../sources/source-record.js';
import { trivyCanCompare } from './versions.js';

export interface DataSource {
  readonly ID: string;
  readonly Name: string;
  readonly URL: string;
}

/** trivy-db types.Advisory as stored (VulnerabilityID and DataSource are not stored). */
export interface Advisory {
  VendorIDs?: string[];
  OSes?: string[];
  Arches?: string[];
  Severity?: number;
  FixedVersion?: string;
  VulnerableVersions?: string[];
  PatchedVersions?: string[];
}

/** What one source says about one vulnerability (trivy-db's build-time VulnerabilityDetail). */
export interface Detail {
  readonly source: string;
  Title?: string;
  Description?: string;
  Severity?: number;
  References?: string[];
  CvssVectorV3?: string;
  CvssScoreV3?: number;
  CvssVectorV40?: string;
  CvssScoreV40?: number;
  PublishedDate?: string;
  LastModifiedDate?: string;
}

export type Entry =
  | {
      readonly t: 'advisory';
      readonly bucket: string;
      readonly pkg: string;
      readonly id: string;
      readonly adv: Advisory;
    }
  | { readonly t: 'source'; readonly bucket: string; readonly ds: DataSource }
  | { readonly t: 'detail'; readonly id: string; readonly detail: Detail };

/** Things counted instead of silently dropped (keys end up in the manifest's counts). */
export type Tally = (what: string, n?: number) => void;

// --- ecosystems -------------------------------------------------------------------------------

/** OSV ecosystem (lower-cased, before any `:`) → Trivy ecosystem slug (trivy-db osv.resolveBucket). */
const OSV_ECOSYSTEMS: Readonly<Record<string, string>> = {
  go: 'go',
  npm: 'npm',
  pypi: 'pip',
  rubygems: 'rubygems',
  'crates.io': 'cargo',
  julia: 'julia',
  packagist: 'composer',
  maven: 'maven',
  nuget: 'nuget',
  hex: 'erlang',
  pub: 'pub',
  swifturl: 'swift',
  bitnami: 'bitnami',
  kubernetes: 'k8s',
};

/** GHSA's names for the slugs (trivy-db ghsa.ecosystems). */
const GHSA_NAMES: Readonly<Record<string, string>> = {
  composer: 'Composer',
  go: 'Go',
  maven: 'Maven',
  npm: 'npm',
  nuget: 'NuGet',
  pip: 'pip',
  rubygems: 'RubyGems',
  cargo: 'Rust',
  erlang: 'Erlang',
  pub: 'Pub',
  swift: 'Swift',
};

export const ALPINE_SOURCE: DataSource = { ID: 'alpine', Name: 'Alpine Secdb', URL: 'https://secdb.alpinelinux.org/' };

/**
 * The data source of an OSV record for one ecosystem slug, by the database that published it
 * (its id prefix): GHSA → trivy-db's `ghsa` sources, GO- → `govulndb`, RUSTSEC- / PYSEC- and
 * anything else → source id `osv` named after the database.
 */
export function osvDataSource(recordId: string, slug: string): DataSource {
  if (recordId.startsWith('GHSA-')) {
    const name = GHSA_NAMES[slug] ?? slug;
    return {
      ID: 'ghsa',
      Name: `GitHub Security Advisory ${name}`,
      URL: `https://github.com/advisories?query=type%3Areviewed+ecosystem%3A${name.toLowerCase()}`,
    };
  }
  if (recordId.startsWith('GO-'))
    return { ID: 'govulndb', Name: 'The Go Vulnerability Database', URL: 'https://pkg.go.dev/vuln/' };
  if (recordId.startsWith('RUSTSEC-'))
    return { ID: 'osv', Name: 'RustSec Advisory Database', URL: 'https://rustsec.org/advisories/' };
  if (recordId.startsWith('PYSEC-'))
    return { ID: 'osv', Name: 'PyPA Advisory Database', URL: 'https://github.com/pypa/advisory-database' };
  return { ID: 'osv', Name: 'Open Source Vulnerabilities', URL: 'https://osv.dev/' };
}

/** trivy-db vulnerability.NormalizePkgName. */
export function normalizePkgName(slug: string, name: string): string {
  switch (slug) {
    case 'pip':
      return name.toLowerCase().replaceAll('_', '-');
    case 'swift':
      return name.replace(/^https:\/\//, '').replace(/\.git$/, '');
    case 'go':
    case 'cocoapods':
    case 'julia':
      return name;
    default:
      return name.toLowerCase();
  }
}

// --- OSV ----------------------------------------------------------------------------------------

interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
const uniq = (xs: string[]): string[] => [...new Set(xs)];

/** One OSV range list → trivy-db's constraint strings (osv.versionRange.String). */
function rangeStrings(affected: Record<string, unknown>, tally: Tally): { vulnerable: string[]; patched: string[] } {
  const vulnerable: string[] = [];
  const patched: string[] = [];
  const ranges: { from: string; to: string; toIncluded: boolean }[] = [];
  for (const r of Array.isArray(affected['ranges']) ? affected['ranges'] : []) {
    if (!isObj(r)) continue;
    if (r['type'] === 'GIT') {
      tally('skipped.gitRanges');
      continue;
    }
    let cur: { from: string; to: string; toIncluded: boolean } | undefined;
    for (const e of (Array.isArray(r['events']) ? r['events'] : []) as OsvEvent[]) {
      if (!isObj(e)) continue;
      if (typeof e.introduced === 'string' && e.introduced !== '') {
        cur = { from: e.introduced, to: '', toIncluded: false };
        ranges.push(cur);
      } else if (typeof e.fixed === 'string' && e.fixed !== '') {
        patched.push(e.fixed);
        if (cur) Object.assign(cur, { to: e.fixed, toIncluded: false });
        else tally('skipped.eventWithoutIntroduced');
      } else if (typeof e.last_affected === 'string' && e.last_affected !== '') {
        if (cur) Object.assign(cur, { to: e.last_affected, toIncluded: true });
        else tally('skipped.eventWithoutIntroduced');
      }
    }
  }
  for (const r of ranges) {
    if (r.toIncluded && r.from === r.to) vulnerable.push(`=${r.from}`);
    else {
      const upper = r.to === '' ? '' : r.toIncluded ? `<=${r.to}` : `<${r.to}`;
      if (upper === '') vulnerable.push(`>=${r.from}`);
      else if (r.from === '0') vulnerable.push(upper);
      else vulnerable.push(`>=${r.from}, ${upper}`);
    }
  }
  // Explicit `versions` outside any range become `=v` (trivy-db checks containment with the
  // ecosystem's comparer; without ranges every listed version is outside, the common case we map).
  if (ranges.length === 0) for (const v of strs(affected['versions'])) vulnerable.push(`=${v}`);
  else if (strs(affected['versions']).length) tally('osv.versionsWithRanges');
  return { vulnerable, patched };
}

/** Count key prefix naming a record with versions Trivy cannot compare (capped per run by the adapter). */
export const UNCOMPARABLE_RECORD = 'versions.uncomparable.record.';

/**
 * The versions of an OSV `affected[]` entry that end up in Trivy's constraints: range events other
 * than `0` (GIT ranges are not exported), and `versions` when there is no range (rangeStrings).
 */
function boundaryVersions(affected: Record<string, unknown>): string[] {
  const out: string[] = [];
  let ranges = 0;
  for (const r of Array.isArray(affected['ranges']) ? affected['ranges'] : []) {
    if (!isObj(r) || r['type'] === 'GIT') continue;
    ranges++;
    for (const e of Array.isArray(r['events']) ? r['events'] : [])
      if (isObj(e))
        for (const k of ['introduced', 'fixed', 'last_affected'])
          if (typeof e[k] === 'string' && e[k] !== '' && e[k] !== '0') out.push(e[k]);
  }
  if (ranges === 0) out.push(...strs(affected['versions']));
  return out;
}

const GHSA_SEVERITY: Readonly<Record<string, number>> = { LOW: 1, MODERATE: 2, HIGH: 3, CRITICAL: 4 };

function cvssScore(vector: string): number | undefined {
  try {
    const parsed = cvss.fromVector(vector) as { calculateScores(): { base?: number; overall?: number } } | undefined;
    const s = parsed?.calculateScores();
    const score = s?.base ?? s?.overall;
    return typeof score === 'number' && Number.isFinite(score) ? score : undefined;
  } catch {
    return undefined;
  }
}

/** osv.parseSeverities: the last CVSS_V3 / CVSS_V4 vector that parses, with its score. */
function severities(list: unknown, into: { v3?: [string, number]; v40?: [string, number] }, tally: Tally): void {
  for (const s of Array.isArray(list) ? list : []) {
    if (!isObj(s) || typeof s['score'] !== 'string' || s['score'] === '') continue;
    const vector = s['score'].replace(/\/$/, '');
    if (s['type'] === 'CVSS_V3') {
      const score = /^CVSS:3\.[01]\//.test(vector) ? cvssScore(vector) : undefined;
      if (score === undefined) tally('osv.cvssUnparsed');
      else into.v3 = [vector, score];
    } else if (s['type'] === 'CVSS_V4') {
      const score = cvssScore(vector);
      if (score === undefined) tally('osv.cvssUnparsed');
      else into.v40 = [vector, score];
    }
  }
}

/** Go's RFC 3339 form of a time (fraction without trailing zeros), or undefined. */
export function goTime(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const zone = m[4]!.toUpperCase() === 'Z' || m[4] === '+00:00' ? 'Z' : m[4]!;
  return `${m[1]}T${m[2]}${frac === '.' ? '' : frac}${zone}`;
}

/** trivy-db osv.groupVulnIDs. */
function groupVulnIds(id: string, aliases: string[]): { ids: string[]; vendorIds: string[] } {
  const all = [...aliases, id];
  const cves = all.filter((a) => a.startsWith('CVE-'));
  if (cves.length === 0) return { ids: [id], vendorIds: aliases };
  return { ids: cves, vendorIds: all.filter((a) => !a.startsWith('CVE-')) };
}

export function* osvEntries(record: SourceRecord, tally: Tally): Generator<Entry> {
  const doc = record.document;
  if (!isObj(doc) || typeof doc['id'] !== 'string') {
    tally('skipped.invalid');
    return;
  }
  const id = doc['id'];
  if (doc['withdrawn'] !== undefined && doc['withdrawn'] !== null) {
    tally('skipped.withdrawn');
    return;
  }
  const aliases = uniq([...strs(doc['aliases']), ...strs(doc['upstream'])]);
  const { ids, vendorIds } = groupVulnIds(id, aliases);
  const references = (Array.isArray(doc['references']) ? doc['references'] : [])
    .map((r) => (isObj(r) && typeof r['url'] === 'string' ? r['url'] : undefined))
    .filter((u): u is string => u !== undefined);
  const dbSpecific = isObj(doc['database_specific']) ? doc['database_specific'] : {};
  const isGhsa = id.startsWith('GHSA-');
  const isGo = id.startsWith('GO-');
  const sev: { v3?: [string, number]; v40?: [string, number] } = {};
  severities(doc['severity'], sev, tally);

  // Per (bucket, package): merged over the record's affected[] entries, as trivy-db does.
  const merged = new Map<string, { bucket: string; pkg: string; ds: DataSource; adv: Advisory }>();
  for (const affected of Array.isArray(doc['affected']) ? doc['affected'] : []) {
    if (!isObj(affected) || !isObj(affected['package'])) continue;
    const eco = affected['package']['ecosystem'];
    const name = affected['package']['name'];
    if (typeof eco !== 'string' || typeof name !== 'string' || name === '') {
      tally('skipped.affectedWithoutPackage');
      continue;
    }
    const slug = OSV_ECOSYSTEMS[eco.toLowerCase().split(':')[0]!];
    if (!slug) {
      tally(`unknownEcosystem.${eco}`);
      continue;
    }
    const ds = osvDataSource(id, slug);
    const bucket = `${slug}::${ds.Name}`;
    const pkg = normalizePkgName(slug, name);
    // Versions Trivy's comparer for this ecosystem would refuse (versions.ts): exported as they
    // are (the data is the source's) but reported, per package and per record.
    const bad = boundaryVersions(affected).filter((v) => !trivyCanCompare(slug, v));
    if (bad.length) {
      tally(`versions.uncomparable.${slug}`);
      tally(`${UNCOMPARABLE_RECORD}${id}`);
    }
    const ranged = rangeStrings(affected, tally);
    const patched = ranged.patched;
    let vulnerable = ranged.vulnerable;
    if (isGhsa && isObj(affected['database_specific'])) {
      const lk = affected['database_specific']['last_known_affected_version_range'];
      if (typeof lk === 'string' && lk !== '')
        vulnerable = vulnerable.map((v) =>
          v.includes('<') || v.startsWith('=') ? v : `${v}, ${lk.replaceAll(' ', '')}`,
        );
    }
    const affSev: { v3?: [string, number]; v40?: [string, number] } = {};
    severities(affected['severities'] ?? affected['severity'], affSev, () => undefined);
    if (affSev.v3) sev.v3 = affSev.v3;
    if (affSev.v40) sev.v40 = affSev.v40;
    let oses: string[] = [];
    let arches: string[] = [];
    if (isGo && isObj(affected['ecosystem_specific'])) {
      for (const imp of Array.isArray(affected['ecosystem_specific']['imports'])
        ? affected['ecosystem_specific']['imports']
        : []) {
        if (!isObj(imp)) continue;
        oses.push(...strs(imp['goos']));
        arches.push(...strs(imp['goarch']));
      }
      oses = uniq(oses);
      arches = uniq(arches);
    }
    const key = `${bucket}\0${pkg}`;
    const prev = merged.get(key);
    if (prev) {
      prev.adv.VulnerableVersions = [...(prev.adv.VulnerableVersions ?? []), ...vulnerable];
      prev.adv.PatchedVersions = [...(prev.adv.PatchedVersions ?? []), ...patched];
      continue;
    }
    const adv: Advisory = {};
    if (vendorIds.length) adv.VendorIDs = vendorIds;
    if (oses.length) adv.OSes = oses;
    if (arches.length) adv.Arches = arches;
    adv.VulnerableVersions = vulnerable;
    adv.PatchedVersions = patched;
    merged.set(key, { bucket, pkg, ds, adv });
  }
  if (merged.size === 0) return;

  const source = [...merged.values()][0]!.ds.ID;
  const detail: Detail = { source };
  if (isGhsa && typeof dbSpecific['severity'] === 'string' && GHSA_SEVERITY[dbSpecific['severity']])
    detail.Severity = GHSA_SEVERITY[dbSpecific['severity']];
  const refs = [...references];
  if (isGo && typeof dbSpecific['url'] === 'string' && dbSpecific['url'] !== '') refs.push(dbSpecific['url']);
  if (refs.length) detail.References = refs;
  if (typeof doc['summary'] === 'string' && doc['summary'] !== '') detail.Title = doc['summary'];
  if (typeof doc['details'] === 'string' && doc['details'] !== '') detail.Description = doc['details'];
  if (sev.v3) [detail.CvssVectorV3, detail.CvssScoreV3] = sev.v3;
  if (sev.v40) [detail.CvssVectorV40, detail.CvssScoreV40] = sev.v40;
  const published = goTime(doc['published']);
  const modified = goTime(doc['modified']);
  // trivy-db leaves zero times out (Go's time.Time.IsZero).
  if (published && !published.startsWith('0001-01-01T00:00:00')) detail.PublishedDate = published;
  if (modified && !modified.startsWith('0001-01-01T00:00:00')) detail.LastModifiedDate = modified;

  for (const m of [...merged.values()]) {
    yield { t: 'source', bucket: m.bucket, ds: m.ds };
    for (const vid of ids) {
      const adv = { ...m.adv };
      if (!adv.VulnerableVersions?.length) delete adv.VulnerableVersions;
      if (!adv.PatchedVersions?.length) delete adv.PatchedVersions;
      yield { t: 'advisory', bucket: m.bucket, pkg: m.pkg, id: vid, adv };
    }
  }
  for (const vid of ids) yield { t: 'detail', id: vid, detail };
}

// --- Alpine secdb -------------------------------------------------------------------------------

/** trivy-db alpine.saveSecFixes: the CVE id of a secfixes entry, else a GHSA id, else none. */
function alpineVulnId(raw: string): string | undefined {
  let selected: string | undefined;
  for (let id of raw.split(/\s+/).filter(Boolean)) {
    id = id.replaceAll('CVE_', 'CVE-');
    if (id.startsWith('CVE-')) return id;
    if (id.startsWith('GHSA-')) selected = id;
  }
  return selected;
}

export function* alpineEntries(record: SourceRecord, tally: Tally): Generator<Entry> {
  const doc = record.document;
  if (!isObj(doc) || typeof doc['distroversion'] !== 'string' || !isObj(doc['pkg'])) {
    tally('skipped.invalid');
    return;
  }
  const name = doc['pkg']['name'];
  const secfixes = doc['pkg']['secfixes'];
  if (typeof name !== 'string' || name === '') {
    tally('skipped.invalid');
    return;
  }
  const bucket = `alpine ${doc['distroversion'].replace(/^v/, '')}`;
  let any = false;
  for (const [fixed, list] of Object.entries(isObj(secfixes) ? secfixes : {})) {
    for (const raw of strs(list)) {
      const id = alpineVulnId(raw);
      if (!id) {
        tally('skipped.alpineNoVulnId');
        continue;
      }
      if (!any) yield { t: 'source', bucket, ds: ALPINE_SOURCE };
      any = true;
      yield { t: 'advisory', bucket, pkg: name, id, adv: { FixedVersion: fixed } };
    }
  }
}

// --- merging into the stored values ------------------------------------------------------------

/** trivy-db vulnerability.AllSourceIDs: precedence for Title, Description and Severity. */
export const SOURCE_PRECEDENCE = [
  'nvd', 'redhat', 'redhat-oval', 'debian', 'ubuntu', 'alpine', 'amazon', 'oracle-oval', 'suse-cvrf', 'photon',
  'arch-linux', 'alma', 'rocky', 'cbl-mariner', 'azure', 'ruby-advisory-db', 'php-security-advisories',
  'nodejs-security-wg', 'ghsa', 'glad', 'aqua', 'osv', 'k8s', 'wolfi', 'chainguard', 'bitnami', 'govulndb', 'julia',
  'bottlerocket', 'echo', 'minimos', 'rootio', 'rapidfort',
]; // prettier-ignore

const SEVERITY_NAMES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

function scoreToSeverity(score: number): number {
  return score >= 9 ? 4 : score >= 7 ? 3 : score >= 4 ? 2 : score > 0 ? 1 : 0;
}

function detailSeverity(d: Detail): number {
  if (d.Severity) return d.Severity;
  if (d.CvssScoreV40) return scoreToSeverity(d.CvssScoreV40);
  if (d.CvssScoreV3) return scoreToSeverity(d.CvssScoreV3);
  return 0;
}

/** Lower-cases scheme and host (trivy-db canonicalizeReferenceURL, without path re-escaping). */
function canonicalUrl(raw: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]+)(.*)$/s.exec(raw);
  return m ? `${m[1]!.toLowerCase()}://${m[2]!.toLowerCase()}${m[3]}` : raw;
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** trivy-db vulnerability.Normalize over the details of one vulnerability (one per source). */
export function normalizeVulnerability(id: string, details: ReadonlyMap<string, Detail>): Record<string, unknown> {
  const ordered = SOURCE_PRECEDENCE.map((s) => details.get(s)).filter((d): d is Detail => d !== undefined);
  // Sources outside the precedence list (none today) come last, by id.
  for (const s of [...details.keys()].sort(byteOrder))
    if (!SOURCE_PRECEDENCE.includes(s)) ordered.push(details.get(s)!);
  const v: Record<string, unknown> = {};
  const title = ordered.find((d) => d.Title)?.Title;
  const description = ordered.find((d) => d.Description)?.Description;
  if (title) v['Title'] = title;
  if (description) v['Description'] = description;
  const sevDetail = ordered.find((d) => detailSeverity(d) !== 0);
  v['Severity'] = SEVERITY_NAMES[sevDetail ? detailSeverity(sevDetail) : 0];
  const vendor: Record<string, number> = {};
  const cvssMap: Record<string, Record<string, unknown>> = {};
  for (const s of [...details.keys()].sort(byteOrder)) {
    const d = details.get(s)!;
    const sv = detailSeverity(d);
    if (sv !== 0) vendor[s] = sv;
    if ((d.CvssVectorV3 && d.CvssScoreV3) || (d.CvssVectorV40 && d.CvssScoreV40)) {
      const c: Record<string, unknown> = {};
      if (d.CvssVectorV3) c['V3Vector'] = d.CvssVectorV3;
      if (d.CvssVectorV40) c['V40Vector'] = d.CvssVectorV40;
      if (d.CvssScoreV3) c['V3Score'] = d.CvssScoreV3;
      if (d.CvssScoreV40) c['V40Score'] = d.CvssScoreV40;
      cvssMap[s] = c;
    }
  }
  if (Object.keys(vendor).length) v['VendorSeverity'] = vendor;
  if (Object.keys(cvssMap).length) v['CVSS'] = cvssMap;
  const refs = new Set<string>();
  for (const d of ordered)
    for (const r of d.References ?? []) for (const line of r.trim().split('\n')) refs.add(canonicalUrl(line));
  if (refs.size) v['References'] = [...refs].sort(byteOrder);
  const dated = id.startsWith('CVE-') ? details.get('nvd') : id.startsWith('GHSA-') ? details.get('ghsa') : undefined;
  if (dated?.PublishedDate) v['PublishedDate'] = dated.PublishedDate;
  if (dated?.LastModifiedDate) v['LastModifiedDate'] = dated.LastModifiedDate;
  return v;
}

/** The stored Advisory JSON: Go field order, omitempty. */
export function advisoryJson(a: Advisory): string {
  const o: Record<string, unknown> = {};
  for (const k of [
    'VendorIDs',
    'OSes',
    'Arches',
    'Severity',
    'FixedVersion',
    'VulnerableVersions',
    'PatchedVersions',
  ] as const) {
    const v = a[k];
    if (v === undefined || v === '' || v === 0 || (Array.isArray(v) && v.length === 0)) continue;
    o[k] = v;
  }
  return JSON.stringify(o);
}

export function dataSourceJson(ds: DataSource): string {
  return JSON.stringify({ ID: ds.ID, Name: ds.Name, URL: ds.URL });
}
