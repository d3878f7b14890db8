import { println, type CommandSpec } from '../command.js';
import { ONLINE_OPTIONS, clientFrom, runOnline } from './online-options.js';

export const commands: CommandSpec[] = [
  {
    name: 'whoami',
    summary: 'Show the tenant, subject and scopes the server sees for your token',
    options: ONLINE_OPTIONS,
    positionals: { max: 0 },
    run: (ctx) =>
      runOnline(ctx, 'whoami', async () => {
        const me = await clientFrom(ctx).whoami();
        if (ctx.json) println(ctx.stdout, JSON.stringify(me));
        else println(ctx.stdout, `tenant:  ${me.tenant}\nsubject: ${me.subject}\nscopes:  ${me.scopes.join(' ')}`);
      }),
  },
];
