/**
 * Every migration set of the composed system, in the order they apply: the platform's own
 * tables (transactional outbox, …) first, then one set per service (DESIGN.md §3 "Postgres":
 * one schema per service). Set names are stored in `stella_migrations.applied` — never rename one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrationSet } from '@stella/platform/db';

/** Set name → the package whose `migrations/` folder holds it (and a subpath that resolves). */
const SETS: readonly { name: string; pkg: string; entry: string }[] = [
  { name: 'platform', pkg: '@stella/platform', entry: '@stella/platform/db' },
  { name: 'evidence-locker', pkg: '@stella/evidence-locker', entry: '@stella/evidence-locker' },
  { name: 'export-center', pkg: '@stella/export-center', entry: '@stella/export-center' },
  { name: 'timeline-indexer', pkg: '@stella/timeline-indexer', entry: '@stella/timeline-indexer' },
];

/**
 * Folders are found through module resolution (`import.meta.resolve`) and then the package root
 * (the nearest `package.json` with that name), so they are right whether we run from `src/`
 * under tsx, from `dist/`, or from an installed copy — not by guessing `../..` paths.
 */
function packageRoot(pkg: string, entry: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(entry)));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg)
      return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the package root of ${pkg} above ${fileURLToPath(import.meta.resolve(entry))}`);
    dir = up;
  }
}

/** The platform set, then evidence-locker, export-center, timeline-indexer. */
export function migrationSets(): MigrationSet[] {
  return SETS.map((s) => ({ name: s.name, dir: join(packageRoot(s.pkg, s.entry), 'migrations') }));
}
