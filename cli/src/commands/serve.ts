/**
 * `stella serve`: runs the platform (issue #2 items 7 and 8). With no configuration it is the
 * embedded default: PGlite, filesystem objects and the in-process bus under `./.stella`, a dev
 * signing key and dev token issuer made on first start. It prints the URL and a dev token, and
 * shuts down gracefully on SIGINT/SIGTERM.
 */
import { EXIT, println, type CommandSpec } from '../command.js';
import { cliVersion } from './version.js';
import { configFlagOptions, loadServerConfig } from './server-config.js';

export const commands: CommandSpec[] = [
  {
    name: 'serve',
    summary: 'Run the platform (all services by default) until SIGINT/SIGTERM',
    description: [
      'Configuration comes from STELLA_* variables (docs/config.md); flags override them.',
      'With none set, everything is embedded under ./.stella (PGlite, files, in-process bus).',
    ].join('\n'),
    // Every flag overrides the config variable of the same name (docs/config.md).
    options: configFlagOptions(),
    positionals: { max: 0 },
    async run(ctx) {
      // stderr carries only logs, in one format (STELLA_LOG_FORMAT); the banner goes to stdout.
      const { createLogger } = await import('@stella/platform/telemetry');
      const unknown: string[] = [];
      const config = await loadServerConfig(ctx, 'serve', (name) => unknown.push(name));
      if (typeof config === 'number') return config;
      const log = createLogger({ level: config.logLevel, format: config.logFormat, stream: ctx.stderr });
      for (const name of unknown) log.warn({ variable: name }, `unknown variable ${name} (typo?)`);
      const { redactConfig } = await import('@stella/platform/config');
      const { pgliteClusterDir } = await import('@stella/platform/db');

      const started = Date.now();
      const { startRuntime, mintDevToken } = await import('@stella/server');
      const runtime = await startRuntime(config, { version: await cliVersion() });
      const summary = {
        url: runtime.url,
        services: config.services,
        database:
          config.database.kind === 'pglite' ? `pglite:${pgliteClusterDir(config.database.dataDir)}` : 'postgres',
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
