/**
 * `stella serve`: runs the platform (issue #2 items 7 and 8). With no configuration it is the
 * embedded default: PGlite, filesystem objects and the in-process bus under `./.stella`, a dev
 * signing key and dev token issuer made on first start. It prints the URL and a dev token, and
 * shuts down gracefully on SIGINT/SIGTERM.
 */
import { EXIT, println, type CommandSpec } from '../command.js';
import { cliVersion } from './version.js';

export const commands: CommandSpec[] = [
  {
    name: 'serve',
    summary: 'Run the platform (all services by default) until SIGINT/SIGTERM',
    description: [
      'Configuration comes from STELLA_* variables (docs/config.md); flags override them.',
      'With none set, everything is embedded under ./.stella (PGlite, files, in-process bus).',
    ].join('\n'),
    options: {
      port: { type: 'string', arg: '<n>', description: 'HTTP port', env: 'STELLA_HTTP_PORT' },
      host: { type: 'string', arg: '<addr>', description: 'HTTP listen address', env: 'STELLA_HTTP_HOST' },
      services: {
        type: 'string',
        arg: '<a,b>',
        description: 'Services to run: evidence-locker,export-center,timeline-indexer',
        env: 'STELLA_SERVICES',
      },
      workers: { type: 'string', arg: '<n>', description: 'Background workers per service', env: 'STELLA_WORKERS' },
      'data-dir': {
        type: 'string',
        arg: '<dir>',
        description: 'Data directory for embedded mode',
        env: 'STELLA_DATA_DIR',
      },
      'log-level': { type: 'string', arg: '<level>', description: 'Log level', env: 'STELLA_LOG_LEVEL' },
    },
    positionals: { max: 0 },
    async run(ctx) {
      const { loadConfig, flagOverrides, redactConfig, unknownVariables } = await import('@stella/platform/config');
      const { isStellaError } = await import('@stella/core/errors');
      let config;
      try {
        config = loadConfig(ctx.env, flagOverrides(ctx.values), { cwd: ctx.cwd });
      } catch (err) {
        if (isStellaError(err, 'CONFIG_INVALID')) {
          const problems =
            (err.details as { problems?: { variable?: string; message: string }[] } | undefined)?.problems ?? [];
          println(ctx.stderr, 'stella serve: invalid configuration:');
          for (const p of problems) println(ctx.stderr, `  - ${p.variable ? `${p.variable}: ` : ''}${p.message}`);
          if (problems.length === 0) println(ctx.stderr, `  - ${err.message}`);
          return EXIT.USAGE;
        }
        throw err;
      }
      // stderr carries only logs, in one format (STELLA_LOG_FORMAT); the banner goes to stdout.
      const { createLogger } = await import('@stella/platform/telemetry');
      const log = createLogger({ level: config.logLevel, format: config.logFormat, stream: ctx.stderr });
      for (const name of unknownVariables(ctx.env)) log.warn({ variable: name }, `unknown variable ${name} (typo?)`);

      const started = Date.now();
      const { startRuntime, mintDevToken } = await import('@stella/server');
      const runtime = await startRuntime(config, { version: await cliVersion() });
      const summary = {
        url: runtime.url,
        services: config.services,
        database: config.database.kind === 'pglite' ? `pglite:${config.database.dataDir}` : 'postgres',
        bus: config.bus.kind,
        objectStore: config.objectStore.kind,
        migrationsApplied: runtime.applied.length,
        startupMs: Date.now() - started,
      };
      const token = runtime.devIssuer ? await mintDevToken(runtime.devIssuer) : undefined;
      if (ctx.json) {
        println(ctx.stdout, JSON.stringify({ ...summary, ...(token ? { devToken: token, devTenant: 'dev' } : {}) }));
      } else {
        println(ctx.stdout, `stella serve: listening on ${runtime.url} (${summary.startupMs} ms)`);
        println(
          ctx.stdout,
          `  services: ${config.services.join(', ')}; database: ${summary.database}; bus: ${summary.bus}; objects: ${summary.objectStore}`,
        );
        if (token) {
          println(ctx.stdout, '');
          println(ctx.stdout, 'Dev token (tenant "dev", all scopes, 12 h) — for this machine only:');
          println(ctx.stdout, `  export STELLA_TOKEN=${token}`);
          println(ctx.stdout, '  export STELLA_TENANT=dev');
          println(
            ctx.stdout,
            `  curl -H "Authorization: Bearer $STELLA_TOKEN" -H "X-Stella-Tenant: dev" ${runtime.url}/v1/whoami`,
          );
        }
      }
      if (ctx.env.STELLA_DEBUG) log.info({ config: redactConfig(config) }, 'configuration (STELLA_DEBUG)');

      // Run until a signal; then stop accepting, drain, stop consumers, close the DB.
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      log.info('shutting down');
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), config.shutdownTimeoutMs).unref());
      const result = await Promise.race([runtime.close().then(() => 'closed' as const), timeout]);
      if (result === 'timeout') {
        log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
        return EXIT.ERROR;
      }
      log.info('stopped');
      return EXIT.OK;
    },
  },
];
