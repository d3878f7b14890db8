/**
 * `stella migrate`, `stella migrate status`, `stella migrate plan` (issue #2 item 3): apply,
 * inspect and preview the numbered SQL migrations of every service against PostgreSQL
 * (`--database-url`) or the embedded PGlite database (`--data-dir`). The database driver and
 * the server package are imported inside `run`, so `stella --help` stays fast.
 */
import { EXIT, UsageError, println, stringOpt, type CommandContext, type CommandSpec } from '../command.js';
import type { Db, MigrationSet } from '@stella/platform/db';

const dbOptions: NonNullable<CommandSpec['options']> = {
  'database-url': {
    type: 'string',
    arg: '<postgres://…>',
    description: 'PostgreSQL to migrate; log in as the schema owner (not the app role)',
    env: 'STELLA_DATABASE_URL',
  },
  'data-dir': {
    type: 'string',
    arg: '<dir>',
    description: 'Embedded PGlite database under <dir>/pgdata, used when no database URL is given',
    env: 'STELLA_DATA_DIR',
    default: './.stella',
  },
};

async function withDb<T>(
  ctx: CommandContext,
  fn: (db: Db, sets: MigrationSet[], platform: typeof import('@stella/platform/db')) => Promise<T>,
): Promise<T> {
  const platform = await import('@stella/platform/db');
  const { migrationSets } = await import('@stella/server/migration-sets');
  const url = stringOpt(ctx, 'database-url');
  const { resolve } = await import('node:path');
  const db = await platform.openDb(
    url ? { url } : { dataDir: resolve(ctx.cwd, stringOpt(ctx, 'data-dir') ?? './.stella') },
  );
  try {
    return await fn(db, migrationSets(), platform);
  } finally {
    await db.close();
  }
}

function describeTarget(ctx: CommandContext): string {
  const url = stringOpt(ctx, 'database-url');
  if (url) {
    try {
      const u = new URL(url);
      if (u.password) u.password = '***';
      return u.toString();
    } catch {
      return '<database url>';
    }
  }
  return `pglite:${stringOpt(ctx, 'data-dir') ?? './.stella'}/pgdata`;
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
      return withDb(ctx, async (db, sets, platform) => {
        if (!ctx.json) println(ctx.stdout, `Migrating ${describeTarget(ctx)} (${db.driver})`);
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
      return withDb(ctx, async (db, sets, platform) => {
        const status = await platform.migrationStatus(db, sets);
        const changed = status.filter((s) => s.state === 'changed').length;
        const pending = status.filter((s) => s.state === 'pending').length;
        if (ctx.json) {
          println(ctx.stdout, JSON.stringify({ driver: db.driver, migrations: status, pending, changed }));
        } else {
          println(ctx.stdout, `Migrations of ${describeTarget(ctx)} (${db.driver}):`);
          const w = Math.max(0, ...status.map((s) => `${s.set}/${s.file}`.length));
          for (const s of status) {
            const when = s.appliedAt ? `  ${s.appliedAt.toISOString()}` : '';
            println(ctx.stdout, `  ${s.state.padEnd(8)} ${`${s.set}/${s.file}`.padEnd(w)}${when}`);
          }
          println(ctx.stdout, `${status.length} file(s): ${pending} pending, ${changed} changed.`);
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
      return withDb(ctx, async (db, sets, platform) => {
        const plan = await platform.migrationPlan(db, sets);
        if (ctx.json) println(ctx.stdout, JSON.stringify({ driver: db.driver, plan }));
        else if (!plan.length) println(ctx.stdout, 'Nothing to apply: the database is up to date.');
        else {
          println(ctx.stdout, `Would apply to ${describeTarget(ctx)} (${db.driver}), in order:`);
          for (const p of plan) println(ctx.stdout, `  ${p.set}/${p.file}  sha256:${p.checksum}`);
        }
        return EXIT.OK;
      });
    },
  },
];
