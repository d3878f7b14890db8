import { readFile } from 'node:fs/promises';
import { EXIT, println, type CommandSpec } from '../command.js';

/** The project version from the CLI's package.json (the workspace shares one version). */
export async function cliVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export const commands: CommandSpec[] = [
  {
    name: 'version',
    summary: 'Print the stella version',
    positionals: { max: 0 },
    async run(ctx) {
      const version = await cliVersion();
      if (ctx.json) println(ctx.stdout, JSON.stringify({ version, node: process.version }));
      else println(ctx.stdout, `stella ${version} (node ${process.version})`);
      return EXIT.OK;
    },
  },
];
