/**
 * What every online command shares (issue #2 item 7): the options saying where the server is and
 * who we are, the client made from them, and how an error answer ends the command.
 */
import { ApiError, StellaClient } from '@stella/sdk';
import { EXIT, UsageError, println, type CommandContext, type OptionSpec } from '../command.js';

export const ONLINE_OPTIONS: Record<string, OptionSpec> = {
  server: {
    type: 'string',
    arg: '<url>',
    description: 'Server base URL',
    env: 'STELLA_SERVER',
    default: 'http://127.0.0.1:8080',
  },
  token: { type: 'string', arg: '<jwt>', description: 'Bearer token (see `stella auth token`)', env: 'STELLA_TOKEN' },
  tenant: { type: 'string', arg: '<tenant>', description: 'Tenant id (X-Stella-Tenant)', env: 'STELLA_TENANT' },
};

/** A client from the online options; a missing token or tenant is a usage error. */
export function clientFrom(
  ctx: CommandContext,
  { needTenant = true, timeoutMs }: { needTenant?: boolean; timeoutMs?: number } = {},
): StellaClient {
  const server = ctx.values.server as string;
  const token = ctx.values.token as string | undefined;
  const tenant = ctx.values.tenant as string | undefined;
  if (!/^https?:\/\//.test(server)) throw new UsageError(`--server must be an http(s) URL, got '${server}'`);
  if (!token)
    throw new UsageError('no token: pass --token or set STELLA_TOKEN (`stella auth token` mints a dev token)');
  if (needTenant && !tenant) throw new UsageError('no tenant: pass --tenant or set STELLA_TENANT');
  return new StellaClient({ server, token, ...(tenant ? { tenant } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

/**
 * An error answer on stderr: `stella <command>: CODE: message (HTTP n, trace t)`, then one line
 * per entry of `details.problems` (validation errors list every problem with its JSON pointer).
 */
export function printApiError(ctx: CommandContext, command: string, err: ApiError): void {
  println(
    ctx.stderr,
    `stella ${command}: ${err.code}: ${err.message} (HTTP ${err.statusCode}${err.traceId ? `, trace ${err.traceId}` : ''})`,
  );
  const problems = (err.details as { problems?: { path?: string; message?: string }[] } | undefined)?.problems;
  if (Array.isArray(problems)) for (const p of problems) println(ctx.stderr, `  ${p.path || '/'}: ${p.message ?? ''}`);
}

/** Runs an online command's work: an error answer is printed and is exit 1; other errors propagate. */
export async function runOnline(
  ctx: CommandContext,
  command: string,
  work: () => Promise<number | void>,
): Promise<number> {
  try {
    return (await work()) ?? EXIT.OK;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    printApiError(ctx, command, err);
    return EXIT.ERROR;
  }
}
