/**
 * Options every online command shares (issue #2 item 7): where the server is and who we are.
 */
import { StellaClient } from '@stella/sdk';
import { UsageError, type CommandContext, type OptionSpec } from '../command.js';

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
