/**
 * Export profiles (issue #10 §3, §7): what to export (a {@link SourceFilter}), with which adapter
 * and options, and whether the bundle carries a fixed export time. Validation reports every
 * problem at once — structure, unknown adapter, kinds the adapter cannot export, bad filters and
 * the adapter's own option problems — as `EXPORT_PROFILE_INVALID` with `details.problems`; a
 * problem that has a code of its own carries it (`EXPORT_ADAPTER_UNKNOWN` at `/adapter`).
 */
import { StellaError } from '@stella/core/errors';
import { unknownAdapterMessage, type ExportAdapter, type OptionProblem } from '../adapters/adapter.js';
import { SEVERITIES, SOURCE_KINDS, type SourceFilter, type SourceKind } from '../sources/source-record.js';

/** The adapters a profile may name, by id (the adapter registry, or a test's own). */
export type AdapterLookup = ReadonlyMap<string, ExportAdapter>;

export interface ProfileSpec {
  readonly name: string;
  readonly adapter: string;
  readonly adapterOptions: Readonly<Record<string, unknown>>;
  readonly filter: SourceFilter;
  /** Fixed ISO 8601 UTC export time written into the bundle, or null (no time in the bytes). */
  readonly exportTime: string | null;
}

export interface StoredProfile extends ProfileSpec {
  readonly id: string;
  readonly version: number;
  readonly createdAt: string;
  readonly createdBy: string;
}

/** A problem with the profile; `path` is a JSON pointer into the request body. */
export type ProfileProblem = OptionProblem;

// No control characters (C0 and DEL): names are shown in terminals and logs.
// eslint-disable-next-line no-control-regex
const NAME = /^[^\u0000-\u001f\u007f]{1,200}$/;
// RFC 3339 date-time in UTC or with an offset; Date.parse then checks the calendar.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const FILTER_KEYS = ['kinds', 'ecosystems', 'packages', 'severities', 'modifiedSince', 'projects', 'sample'];
const BODY_KEYS = ['name', 'adapter', 'adapterOptions', 'filter', 'exportTime'];
const MAX_LIST = 1000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) return undefined;
  return new Date(v).toISOString();
}

/** Checks a list of strings (non-empty, unique, each 1–512 chars); returns the sorted list. */
function stringList(
  v: unknown,
  path: string,
  problems: ProfileProblem[],
  allowed?: readonly string[],
): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LIST) {
    problems.push({ path, message: `must be a non-empty array of at most ${MAX_LIST} strings` });
    return undefined;
  }
  const out: string[] = [];
  v.forEach((item, i) => {
    if (typeof item !== 'string' || item.length === 0 || item.length > 512)
      problems.push({ path: `${path}/${i}`, message: 'must be a string of 1–512 characters' });
    else if (allowed && !allowed.includes(item))
      problems.push({ path: `${path}/${i}`, message: `must be one of ${allowed.join(', ')}` });
    else if (out.includes(item)) problems.push({ path: `${path}/${i}`, message: `duplicates ${JSON.stringify(item)}` });
    else out.push(item);
  });
  // Sorted: two profiles that select the same thing are equal, and so are their manifests.
  return out.sort();
}

function validateFilter(v: unknown, problems: ProfileProblem[]): SourceFilter | undefined {
  if (!isObject(v)) {
    problems.push({ path: '/filter', message: 'must be an object with at least `kinds`' });
    return undefined;
  }
  for (const k of Object.keys(v))
    if (!FILTER_KEYS.includes(k)) problems.push({ path: `/filter/${k}`, message: 'is not a filter field' });
  const kinds = stringList(v.kinds, '/filter/kinds', problems, SOURCE_KINDS) as SourceKind[] | undefined;
  const filter: Record<string, unknown> = { kinds };
  for (const field of ['ecosystems', 'packages', 'projects'] as const)
    if (v[field] !== undefined) filter[field] = stringList(v[field], `/filter/${field}`, problems);
  if (v.severities !== undefined)
    filter.severities = stringList(v.severities, '/filter/severities', problems, SEVERITIES);
  if (v.modifiedSince !== undefined) {
    const t = isoTime(v.modifiedSince);
    if (!t) problems.push({ path: '/filter/modifiedSince', message: 'must be an RFC 3339 date-time' });
    filter.modifiedSince = t;
  }
  if (v.sample !== undefined) {
    const s = v.sample;
    if (!isObject(s)) problems.push({ path: '/filter/sample', message: 'must be {rate, seed}' });
    else {
      for (const k of Object.keys(s))
        if (k !== 'rate' && k !== 'seed') problems.push({ path: `/filter/sample/${k}`, message: 'is not allowed' });
      if (typeof s.rate !== 'number' || !(s.rate > 0 && s.rate <= 1))
        problems.push({ path: '/filter/sample/rate', message: 'must be a number in (0, 1]' });
      if (typeof s.seed !== 'string' || s.seed.length === 0 || s.seed.length > 256)
        problems.push({ path: '/filter/sample/seed', message: 'must be a string of 1–256 characters' });
      filter.sample = { rate: s.rate, seed: s.seed };
    }
  }
  return filter as unknown as SourceFilter;
}

/**
 * Validates a profile body against the adapters; returns the normalised spec (adapter options with
 * their defaults, lists sorted, times in UTC) or throws EXPORT_PROFILE_INVALID listing every problem.
 */
export function validateProfile(body: unknown, adapters: AdapterLookup): ProfileSpec {
  const problems: ProfileProblem[] = [];
  if (!isObject(body)) {
    throw new StellaError('EXPORT_PROFILE_INVALID', 'the profile must be a JSON object', {
      details: { problems: [{ path: '', message: 'must be an object' }] },
    });
  }
  for (const k of Object.keys(body))
    if (!BODY_KEYS.includes(k)) problems.push({ path: `/${k}`, message: 'is not a profile field' });
  if (typeof body.name !== 'string' || !NAME.test(body.name))
    problems.push({ path: '/name', message: 'must be a string of 1–200 characters without control characters' });
  let adapter: ExportAdapter | undefined;
  if (typeof body.adapter !== 'string') problems.push({ path: '/adapter', message: 'must be an adapter id' });
  else {
    adapter = adapters.get(body.adapter);
    if (!adapter)
      problems.push({
        path: '/adapter',
        code: 'EXPORT_ADAPTER_UNKNOWN',
        message: unknownAdapterMessage(body.adapter, adapters.keys()),
      });
  }
  const filter = validateFilter(body.filter, problems);
  if (adapter && filter?.kinds)
    for (const kind of filter.kinds)
      if (!adapter.sourceKinds.includes(kind))
        problems.push({
          // Pointer into the request as sent (the normalised list is sorted).
          path: `/filter/kinds/${(body.filter as { kinds: unknown[] }).kinds.indexOf(kind)}`,
          message: `adapter ${adapter.id} cannot export ${kind} (it exports ${adapter.sourceKinds.join(', ')})`,
        });
  let adapterOptions: Readonly<Record<string, unknown>> = {};
  const rawOptions = body.adapterOptions ?? {};
  if (!isObject(rawOptions)) problems.push({ path: '/adapterOptions', message: 'must be an object' });
  else if (adapter) {
    const r = adapter.validateOptions(rawOptions);
    if (r.ok) adapterOptions = r.options;
    else problems.push(...r.problems.map((p) => ({ path: `/adapterOptions${p.path}`, message: p.message })));
  }
  let exportTime: string | null = null;
  if (body.exportTime !== undefined && body.exportTime !== null) {
    const t = isoTime(body.exportTime);
    if (!t) problems.push({ path: '/exportTime', message: 'must be an RFC 3339 date-time (or absent)' });
    else exportTime = t;
  }
  if (problems.length > 0)
    throw new StellaError(
      'EXPORT_PROFILE_INVALID',
      `the profile has ${problems.length} problem(s): ${problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`,
      { details: { problems } },
    );
  return {
    name: body.name as string,
    adapter: adapter!.id,
    adapterOptions,
    filter: filter!,
    exportTime,
  };
}
