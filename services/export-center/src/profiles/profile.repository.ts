/**
 * SQL of export profiles (the only place that knows export_center.export_profiles). Profiles are
 * versioned: `create` writes version 1, `update` version n+1, `remove` marks the latest version
 * deleted; nothing is ever overwritten, so a run's pinned (id, version) stays readable.
 * Every function takes a tenant transaction (RLS: another tenant's profile is simply missing).
 */
import { StellaError } from '@stella/core/errors';
import type { Queryable } from '@stella/platform/db';
import type { SourceFilter } from '../sources/source-record.js';
import type { ProfileSpec, StoredProfile } from './profile.js';

type ProfileRow = {
  profile_id: string;
  version: number;
  name: string;
  adapter: string;
  adapter_options: Record<string, unknown>;
  filter: SourceFilter;
  export_time: Date | null;
  created_at: Date;
  created_by: string;
  deleted_at: Date | null;
};

const COLUMNS =
  'profile_id, version, name, adapter, adapter_options, filter, export_time, created_at, created_by, deleted_at';

function toProfile(r: ProfileRow): StoredProfile {
  return {
    id: r.profile_id,
    version: r.version,
    name: r.name,
    adapter: r.adapter,
    adapterOptions: r.adapter_options,
    filter: r.filter,
    exportTime: r.export_time ? new Date(r.export_time).toISOString() : null,
    createdAt: new Date(r.created_at).toISOString(),
    createdBy: r.created_by,
  };
}

export function profileNotFound(id: string, version?: number): StellaError {
  return new StellaError(
    'EXPORT_PROFILE_NOT_FOUND',
    `no export profile ${id}${version === undefined ? '' : ` version ${version}`}`,
    { details: { profileId: id, ...(version === undefined ? {} : { version }) } },
  );
}

async function insertVersion(
  tx: Queryable,
  id: string,
  version: number,
  spec: ProfileSpec,
  actor: string,
): Promise<StoredProfile> {
  const r = await tx.query<ProfileRow>(
    `INSERT INTO export_center.export_profiles (profile_id, version, name, adapter, adapter_options, filter, export_time, created_by)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8) RETURNING ${COLUMNS}`,
    [
      id,
      version,
      spec.name,
      spec.adapter,
      JSON.stringify(spec.adapterOptions),
      JSON.stringify(spec.filter),
      spec.exportTime,
      actor,
    ],
  );
  return toProfile(r.rows[0]!);
}

export function createProfile(tx: Queryable, id: string, spec: ProfileSpec, actor: string): Promise<StoredProfile> {
  return insertVersion(tx, id, 1, spec, actor);
}

/** The latest live version (or the given one, deleted or not: runs pin versions). */
export async function getProfile(tx: Queryable, id: string, version?: number): Promise<StoredProfile> {
  const r =
    version === undefined
      ? await tx.query<ProfileRow>(
          `SELECT ${COLUMNS} FROM export_center.export_profiles WHERE profile_id = $1 ORDER BY version DESC LIMIT 1`,
          [id],
        )
      : await tx.query<ProfileRow>(
          `SELECT ${COLUMNS} FROM export_center.export_profiles WHERE profile_id = $1 AND version = $2`,
          [id, version],
        );
  const row = r.rows[0];
  if (!row || (version === undefined && row.deleted_at)) throw profileNotFound(id, version);
  return toProfile(row);
}

/** Every version of a profile, oldest first (deleted profiles: not found). */
export async function profileVersions(tx: Queryable, id: string): Promise<StoredProfile[]> {
  const latest = await getProfile(tx, id);
  const r = await tx.query<ProfileRow>(
    `SELECT ${COLUMNS} FROM export_center.export_profiles WHERE profile_id = $1 AND version <= $2 ORDER BY version`,
    [id, latest.version],
  );
  return r.rows.map(toProfile);
}

/** Writes version n+1; the row lock on version n serialises concurrent updates. */
export async function updateProfile(
  tx: Queryable,
  id: string,
  spec: ProfileSpec,
  actor: string,
): Promise<StoredProfile> {
  const r = await tx.query<{ version: number; deleted_at: Date | null }>(
    `SELECT version, deleted_at FROM export_center.export_profiles WHERE profile_id = $1
     ORDER BY version DESC LIMIT 1 FOR UPDATE`,
    [id],
  );
  const latest = r.rows[0];
  if (!latest || latest.deleted_at) throw profileNotFound(id);
  return insertVersion(tx, id, latest.version + 1, spec, actor);
}

/** Marks the latest version deleted (runs that pinned any version keep reading it). */
export async function removeProfile(tx: Queryable, id: string): Promise<void> {
  const r = await tx.query(
    `UPDATE export_center.export_profiles p SET deleted_at = now()
     WHERE profile_id = $1 AND deleted_at IS NULL
       AND version = (SELECT max(version) FROM export_center.export_profiles WHERE profile_id = $1)`,
    [id],
  );
  if (r.rowCount === 0) throw profileNotFound(id);
}

/** Live profiles (latest versions), by name then id. */
export async function listProfiles(tx: Queryable): Promise<StoredProfile[]> {
  const r = await tx.query<ProfileRow>(
    `SELECT ${COLUMNS} FROM (
       SELECT DISTINCT ON (profile_id) ${COLUMNS} FROM export_center.export_profiles ORDER BY profile_id, version DESC
     ) latest WHERE deleted_at IS NULL ORDER BY name, profile_id`,
  );
  return r.rows.map(toProfile);
}
