import { ApiError } from '@stella/sdk';
import { EXIT, println, type CommandSpec } from '../command.js';
import { ONLINE_OPTIONS, clientFrom } from './online-options.js';

export const commands: CommandSpec[] = [
  {
    name: 'whoami',
    summary: 'Show the tenant, subject and scopes the server sees for your token',
    options: ONLINE_OPTIONS,
    positionals: { max: 0 },
    async run(ctx) {
      const client = clientFrom(ctx);
      try {
        const me = await client.whoami();
        if (ctx.json) println(ctx.stdout, JSON.stringify(me));
        else println(ctx.stdout, `tenant:  ${me.tenant}\nsubject: ${me.subject}\nscopes:  ${me.scopes.join(' ')}`);
        return EXIT.OK;
      } catch (err) {
        if (err instanceof ApiError) {
          println(
            ctx.stderr,
            `stella whoami: ${err.code}: ${err.message} (HTTP ${err.statusCode}${err.traceId ? `, trace ${err.traceId}` : ''})`,
          );
          return EXIT.ERROR;
        }
        throw err;
      }
    },
  },
];
