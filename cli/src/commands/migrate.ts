/**
 * `stella migrate`, `stella migrate status`, `stella migrate plan` (issue #2 item 3): apply,
 * inspect and preview the numbered SQL migrations of every registered service against PostgreSQL
 * (`--database-url`) or the embedded PGlite database of `--data-dir` — resolved exactly as
 * `stella serve` resolves them (server-config.ts). The database driver and
 * the server package are imported inside `run`, so `stella --help` stays fast.
 */
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import type { Db, MigrationSet } from '@stella/platform/db';
import { redactUrl, type StellaConfig } from '@stella/platform/config';
import { configFlagOptions, loadServerConfig } from './server-config.js';

// The same variables (and so the same data dir and database) as `stella serve`.
const dbOptions = configFlagOptions(['STELLA_DATABASE_URL', 'STELLA_DATA_DIR']);

async function withDb(
  ctx: CommandContext,
  command: string,
  fn: (db: Db, sets: MigrationSet[], platform: typeof import('@stella/platform/db'), target: string) => Promise<number>,
): Promise<number> {
  const config = await loadServerConfig(ctx, command);
  if (typeof config === 'number') return config;
  const platform = await import('@stella/platform/db');
  const { migrationSets } = await import('@stella/server/service-registry');
  const db = await platform.openDb(config.database);
  try {
    return await fn(db, migrationSets(), platform, describeTarget(config, platform));
  } finally {
    await db.close();
  }
}

function describeTarget(config: StellaConfig, platform: typeof import('@stella/platform/db')): string {
  return config.database.kind === 'postgres'
    ? redactUrl(config.database.url)
    : `pglite:${platform.pgliteClusterDir(config.database.dataDir)}`;
}

export const commands: CommandSpec[] = [
  {
    name: 'migrate',
    summary: 'Apply pending database migrations of all services',
    description: [
      'Applies numbered forward-only migrations (platform, then each service) under an advisory lock,',
      'each file in its own transaction with its tracking row. Refuses to run if an applied file changed.',
      'Creates the application role (stella_app: NOLOGIN, no BYPASSRLS) if missing.',
      '',
      'Examples:',
      '  stella migrate --database-url postgres://owner@db:5432/stella',
      '  stella migrate --data-dir ./.stella --json',
    ].join('\n'),
    options: {
      ...dbOptions,
      'lock-timeout': {
        type: 'string',
        arg: '<ms>',
        description: 'Fail instead of waiting longer than <ms> for another running migration (default: wait)',
      },
    },
    positionals: { max: 0 },
    async run(ctx) {
      const lockTimeout = stringOpt(ctx, 'lock-timeout');
      if (lockTimeout !== undefined && !/^[1-9]\d{0,8}$/.test(lockTimeout))
        throw new UsageError('--lock-timeout must be a positive number of milliseconds');
      return withDb(ctx, 'migrate', async (db, sets, platform, target) => {
        if (!ctx.json) println(ctx.stdout, `Migrating ${target} (${db.driver})`);
        const applied = await platform.migrate(db, sets, {
          lockTimeoutMs: lockTimeout === undefined ? undefined : Number(lockTimeout),
          onApplied: (m) => {
            if (!ctx.json) println(ctx.stdout, `  applied ${m.set}/${m.file} (${m.durationMs} ms)`);
          },
        });
        if (ctx.json) println(ctx.stdout, JSON.stringify({ driver: db.driver, applied }));
        else
          println(
            ctx.stdout,
            applied.length
              ? `${applied.length} migration(s) applied.`
              : 'Nothing to apply: the database is up to date.',
          );
        return EXIT.OK;
      });
    },
  },
  {
    name: 'migrate status',
    summary: 'Show applied, pending and changed migrations',
    description: 'Read-only. Exit code 1 when an applied file changed on disk (checksum mismatch).',
    options: dbOptions,
    positionals: { max: 0 },
    async run(ctx) {
      return withDb(ctx, 'migrate status', async (db, sets, platform, target) => {
        const status = await platform.migrationStatus(db, sets);
        const changed = status.filter((s) => s.state === 'changed').length;
        const pending = status.filter((s) => s.state === 'pending').length;
        if (ctx.json) {
          println(ctx.stdout, JSON.stringify({ driver: db.driver, migrations: status, pending, changed }));
        } else {
          println(ctx.stdout, `Migrations of ${target} (${db.driver}):`);
          const w = Math.max(0, ...status.map((s) => `${s.set}/${s.file}`.length));
          for (const s of status) {
            const when = s.appliedAt ? `  ${s.appliedAt.toISOString()}` : '';
            println(ctx.stdout, `  ${s.state.padEnd(8)} ${`${s.set}/${s.file}`.padEnd(w)}${when}`);
          }
          println(ctx.stdout, `${status.length} file(s): ${pending} pending, ${changed} changed.`);
          if (!pending && !changed) println(ctx.stdout, 'The database is up to date.');
          if (changed)
            println(ctx.stderr, 'Applied migrations were edited; restore them and add a new migration instead.');
        }
        return changed ? EXIT.ERROR : EXIT.OK;
      });
    },
  },
  {
    name: 'migrate plan',
    summary: 'List the migrations `stella migrate` would apply, without applying them',
    options: dbOptions,
    positionals: { max: 0 },
    async run(ctx) {
      return withDb(ctx, 'migrate plan', async (db, sets, platform, target) => {
        const plan = await platform.migrationPlan(db, sets);
        if (ctx.json) println(ctx.stdout, JSON.stringify({ driver: db.driver, plan }));
        else if (!plan.length) println(ctx.stdout, 'Nothing to apply: the database is up to date.');
        else {
          println(ctx.stdout, `Would apply to ${target} (${db.driver}), in order:`);
          for (const p of plan) println(ctx.stdout, `  ${p.set}/${p.file}  sha256:${p.checksum}`);
        }
        return EXIT.OK;
      });
    },
  },
];
