/**
 * Test support for the sources store: a migrated database (PGlite in a temp dir, or a fresh
 * database on the loopback PostgreSQL) and a one-call file import as a tenant.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { migrate, openDb, PLATFORM_MIGRATIONS, type Db } from '@stella/platform/db';
import { createTestDatabase, tempDir } from '@stella/testkit';
import { exportCenterService } from '../service.js';
import { importSource, type ImportOptions, type ImportSummary } from '../sources/import-source.js';
import type { SourceKind } from '../sources/source-record.js';

export interface SourcesDb {
  readonly db: Db;
  close(): Promise<void>;
}

export async function openSourcesDb(driver: 'pglite' | 'pg'): Promise<SourcesDb> {
  if (driver === 'pglite') {
    const dir = await tempDir('stella-sources-');
    const db = await openDb({ kind: 'pglite', dataDir: dir.path });
    await migrate(db, [PLATFORM_MIGRATIONS, exportCenterService.migrations]);
    return {
      db,
      close: async () => {
        await db.close();
        await dir.cleanup();
      },
    };
  }
  const pg = await createTestDatabase('sources');
  const db = await openDb({ kind: 'postgres', url: pg.url, poolMax: 6 });
  await migrate(db, [PLATFORM_MIGRATIONS, exportCenterService.migrations]);
  return {
    db,
    close: async () => {
      await db.close();
      await pg.drop();
    },
  };
}

/** Imports one file (streamed from disk) as `tenant`, each batch in its own tenant transaction. */
export function importFile(
  db: Db,
  tenant: string,
  path: string,
  kind: SourceKind,
  o: Partial<Omit<ImportOptions, 'kind' | 'transaction'>> = {},
): Promise<ImportSummary> {
  return importSource(createReadStream(path), {
    kind,
    scope: o.scope ?? { tenant, global: false },
    transaction: (fn) => db.withTenant(tenant, fn),
    ...o,
  });
}

/** Every `*.json` file under `dir`, sorted. */
export async function jsonFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.json')) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

/** The JSON files as one JSON array, streamed file by file (a large array input from real data). */
export async function* jsonArrayOf(files: readonly string[]): AsyncGenerator<Uint8Array> {
  yield Buffer.from('[');
  for (const [i, f] of files.entries()) {
    if (i > 0) yield Buffer.from(',\n');
    yield* createReadStream(f);
  }
  yield Buffer.from(']');
}

/** Imports `files` as one streamed JSON array as `tenant`. */
export function importArray(
  db: Db,
  tenant: string,
  files: readonly string[],
  kind: SourceKind,
  o: Partial<Omit<ImportOptions, 'kind' | 'transaction'>> = {},
): Promise<ImportSummary> {
  return importSource(jsonArrayOf(files), {
    kind,
    scope: o.scope ?? { tenant, global: false },
    transaction: (fn) => db.withTenant(tenant, fn),
    ...o,
  });
}
