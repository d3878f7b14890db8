/**
 * `stella auth token` — mint a dev bearer token (DESIGN.md §3 "Auth"), and `stella auth jwks` —
 * print the dev issuer's public keys. Both use the embedded dev issuer in the data directory
 * (`--data-dir`, else `STELLA_DATA_DIR`, else `./.stella`) that `stella serve` created, so a
 * token minted here is accepted by the server on that data directory. They refuse when there is
 * no issuer there (issue 7 point 3: a silently created one signs tokens no server accepts),
 * unless `--init` asks for a new one.
 */
import {
  EXIT,
  UsageError,
  println,
  stringOpt,
  type CommandContext,
  type CommandSpec,
  type OptionSpec,
} from '../command.js';

/** `--data-dir`: where the dev issuer lives (both commands must agree with `stella serve`). */
const dataDirOption: OptionSpec = {
  type: 'string',
  arg: '<dir>',
  description: 'Data directory holding dev-issuer/',
  env: 'STELLA_DATA_DIR',
};

const initOption: OptionSpec = {
  type: 'boolean',
  description: 'Create a new dev issuer in the data directory if it has none',
};

/** The dev issuer of the data directory `--data-dir` names; only `--init` creates one. */
async function devIssuer(ctx: CommandContext) {
  const { loadDevIssuer, loadOrCreateDevIssuer, DEV_ISSUER_DIR } = await import('@stella/platform/auth');
  const { resolveDataDir } = await import('@stella/platform/config');
  const { StellaError } = await import('@stella/core/errors');
  const dataDirOpt = stringOpt(ctx, 'data-dir');
  const dataDir = resolveDataDir(dataDirOpt === undefined ? {} : { STELLA_DATA_DIR: dataDirOpt }, ctx.cwd);
  if (ctx.values.init === true) return loadOrCreateDevIssuer(dataDir);
  const issuer = await loadDevIssuer(dataDir);
  if (issuer) return issuer;
  throw new StellaError(
    'NOT_FOUND',
    `no dev issuer in ${dataDir} (looked for ${DEV_ISSUER_DIR}/): give the data directory \`stella serve\` ` +
      'uses with --data-dir or STELLA_DATA_DIR, or pass --init to create a new issuer there ' +
      '(only a server on that directory will accept its tokens)',
    { details: { dataDir } },
  );
}

export const commands: CommandSpec[] = [
  {
    name: 'auth token',
    summary: 'Mint a dev bearer token signed by the embedded dev issuer',
    description: [
      'Prints only the JWT and a newline on stdout, so it composes:',
      '  export STELLA_TOKEN=$(stella auth token --tenant acme --scope "timeline:read export:run")',
      '',
      'Scopes (space or comma separated): evidence:read evidence:create evidence:hold timeline:read',
      'timeline:write timeline:admin export:read export:run export:profile:manage export:download ops:incident.',
      'Role names expand to their scope sets: viewer, operator, admin.',
      'Only servers using the dev issuer (no STELLA_AUTH_JWKS) on the same data directory accept it;',
      'without --init it refuses a data directory that has no dev issuer yet.',
    ].join('\n'),
    options: {
      tenant: { type: 'string', arg: '<id>', description: 'Tenant claim of the token', env: 'STELLA_TENANT' },
      scope: { type: 'string', arg: '"<scopes>"', description: 'Scopes or role names to grant' },
      ttl: {
        type: 'string',
        arg: '<duration>',
        description: 'Lifetime: seconds or 30m, 1h, 7d (max 366d)',
        default: '1h',
      },
      subject: { type: 'string', arg: '<sub>', description: 'Subject claim', default: 'dev-user' },
      'data-dir': dataDirOption,
      init: initOption,
    },
    positionals: { max: 0 },
    async run(ctx) {
      const { parseScopeList, parseTtl } = await import('@stella/platform/auth');
      const { isTenantId, TENANT_ID_PATTERN } = await import('@stella/platform/tenant');
      const { isStellaError } = await import('@stella/core/errors');
      const tenant = stringOpt(ctx, 'tenant', true);
      if (!isTenantId(tenant))
        throw new UsageError(`--tenant '${tenant}' is not a tenant id (${TENANT_ID_PATTERN.source})`);
      const scopeText = stringOpt(ctx, 'scope', true);
      const subject = stringOpt(ctx, 'subject', true);
      let scopes: string[];
      let ttlSeconds: number;
      try {
        scopes = parseScopeList(scopeText);
        ttlSeconds = parseTtl(stringOpt(ctx, 'ttl', true));
      } catch (err) {
        if (isStellaError(err, 'VALIDATION_FAILED')) throw new UsageError(err.message);
        throw err;
      }
      const issuer = await devIssuer(ctx);
      const now = Math.floor(Date.now() / 1000);
      const token = await issuer.mint({ tenant, subject, scopes, ttlSeconds, now });
      if (ctx.json) {
        println(
          ctx.stdout,
          JSON.stringify({
            token,
            tenant,
            subject,
            scopes,
            issuer: issuer.issuer,
            audience: issuer.audience,
            expiresAt: new Date((now + ttlSeconds) * 1000).toISOString(),
          }),
        );
      } else {
        println(ctx.stdout, token);
      }
      return EXIT.OK;
    },
  },
  {
    name: 'auth jwks',
    summary: "Print the dev issuer's public JWKS (for STELLA_AUTH_JWKS on other hosts)",
    options: {
      'data-dir': dataDirOption,
      init: initOption,
    },
    positionals: { max: 0 },
    async run(ctx) {
      const issuer = await devIssuer(ctx);
      println(ctx.stdout, JSON.stringify(issuer.jwks, null, ctx.json ? undefined : 2));
      return EXIT.OK;
    },
  },
];
