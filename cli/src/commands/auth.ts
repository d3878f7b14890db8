/**
 * `stella auth token` — mint a dev bearer token (DESIGN.md §3 "Auth"), and `stella auth jwks` —
 * print the dev issuer's public keys. Both use the embedded dev issuer in the data directory
 * (`--data-dir`, else `STELLA_DATA_DIR`, else `./.stella`), creating it on first use, so a token
 * minted here is accepted by `stella serve` running on the same data directory.
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

/** The dev issuer of the data directory `--data-dir` names (created on first use). */
async function devIssuer(ctx: CommandContext) {
  const { loadOrCreateDevIssuer } = await import('@stella/platform/auth');
  const { resolveDataDir } = await import('@stella/platform/config');
  const dataDirOpt = stringOpt(ctx, 'data-dir');
  return loadOrCreateDevIssuer(
    resolveDataDir(dataDirOpt === undefined ? {} : { STELLA_DATA_DIR: dataDirOpt }, ctx.cwd),
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
      'timeline:write export:read export:run export:profile:manage export:download ops:incident.',
      'Role names expand to their scope sets: viewer, operator, admin.',
      'Only servers using the dev issuer (no STELLA_AUTH_JWKS) on the same data directory accept it.',
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
    },
    positionals: { max: 0 },
    async run(ctx) {
      const issuer = await devIssuer(ctx);
      println(ctx.stdout, JSON.stringify(issuer.jwks, null, ctx.json ? undefined : 2));
      return EXIT.OK;
    },
  },
];
