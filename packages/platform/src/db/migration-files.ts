import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StellaError } from '@stella/core/errors';

/** A named folder of numbered `.sql` files (one per service, plus the platform's own). */
export interface MigrationSet {
  /** Stable id stored with every applied row, e.g. `evidence-locker`. Never rename a set. */
  name: string;
  /** Absolute folder path. A folder that does not exist is a set with no files. */
  dir: string;
}

/** One migration file as found on disk. */
export interface MigrationFile {
  set: string;
  version: number;
  /** The part after the number, e.g. `schema` for `0001_schema.sql`. */
  name: string;
  /** The file name, e.g. `0001_schema.sql`. */
  file: string;
  path: string;
  /** sha256 (hex) of the file text with CRLF → LF and a leading BOM removed. */
  checksum: string;
  sql: string;
}

/**
 * `NNNN_snake_name.sql`: at least four digits (zero-padded so names sort as numbers do), an
 * underscore, a lower-case snake_case name. Anything else ending in `.sql` is rejected rather
 * than skipped — a typo must not silently drop a migration.
 */
export const MIGRATION_FILE_PATTERN = /^(\d{4,9})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$/;
/** Set names: lower-case, digits, `-`/`_`; they are stored in the tracking table. */
export const MIGRATION_SET_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/** Parses a file name; `undefined` when it is not of the form `NNNN_snake_name.sql`. */
export function parseMigrationFileName(file: string): { version: number; name: string } | undefined {
  const m = MIGRATION_FILE_PATTERN.exec(file);
  if (!m) return undefined;
  const version = Number.parseInt(m[1]!, 10);
  if (version < 1) return undefined;
  return { version, name: m[2]! };
}

/** The checksum we store: line endings and a BOM don't count (a Windows checkout is no change). */
export function migrationChecksum(text: string): string {
  return createHash('sha256').update(normalizeSql(text), 'utf8').digest('hex');
}

function normalizeSql(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
}

/**
 * Validates a list of file names of one set and returns them ordered by version. Throws
 * `MIGRATION_INVALID_NAME` for a `.sql` name of the wrong form, version 0, or a repeated number.
 * Files not ending in `.sql` (README.md, …) and dot-files are ignored.
 */
export function orderMigrationFileNames(
  setName: string,
  files: readonly string[],
): { version: number; name: string; file: string }[] {
  const out: { version: number; name: string; file: string }[] = [];
  const bad: string[] = [];
  for (const file of files) {
    if (file.startsWith('.') || !file.toLowerCase().endsWith('.sql')) continue;
    const parsed = parseMigrationFileName(file);
    if (!parsed) bad.push(file);
    else out.push({ ...parsed, file });
  }
  if (bad.length) {
    throw new StellaError(
      'MIGRATION_INVALID_NAME',
      `migration set ${setName}: ${bad.sort().join(', ')} not of the form NNNN_snake_name.sql (version ≥ 1)`,
      {
        details: { set: setName, files: bad },
      },
    );
  }
  out.sort((a, b) => a.version - b.version || (a.file < b.file ? -1 : 1));
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) {
      throw new StellaError(
        'MIGRATION_INVALID_NAME',
        `migration set ${setName}: ${out[i - 1]!.file} and ${out[i]!.file} share version ${out[i]!.version}`,
        {
          details: { set: setName, files: [out[i - 1]!.file, out[i]!.file] },
        },
      );
    }
  }
  return out;
}

/** Reads every set (validating set names, file names and numbering) before anything touches the database. */
export async function loadMigrationSets(sets: readonly MigrationSet[]): Promise<MigrationFile[]> {
  const seen = new Set<string>();
  for (const s of sets) {
    if (!MIGRATION_SET_PATTERN.test(s.name)) {
      throw new StellaError(
        'MIGRATION_INVALID_NAME',
        `migration set name ${JSON.stringify(s.name)} is not ${MIGRATION_SET_PATTERN.source}`,
      );
    }
    if (seen.has(s.name)) throw new StellaError('MIGRATION_INVALID_NAME', `migration set ${s.name} is listed twice`);
    seen.add(s.name);
  }
  const all: MigrationFile[] = [];
  for (const s of sets) {
    let entries: string[];
    try {
      entries = (await readdir(s.dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const f of orderMigrationFileNames(s.name, entries)) {
      const path = join(s.dir, f.file);
      const sql = normalizeSql(await readFile(path, 'utf8'));
      all.push({
        set: s.name,
        version: f.version,
        name: f.name,
        file: f.file,
        path,
        checksum: migrationChecksum(sql),
        sql,
      });
    }
  }
  return all;
}
