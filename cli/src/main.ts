/**
 * `stella` entry: finds the command by its words, parses options from its metadata, runs it and
 * maps failures to exit codes. Help for every command is generated from the same metadata.
 */
import { parseArgs } from 'node:util';
import { EXIT, UsageError, println, type CommandIO, type CommandSpec } from './command.js';
import { allCommands } from './commands/index.js';
import { explainError } from './system-errors.js';

const GLOBAL_OPTIONS: NonNullable<CommandSpec['options']> = {
  help: { type: 'boolean', short: 'h', description: 'Show help for the command' },
  json: { type: 'boolean', description: 'Machine-readable JSON output where supported' },
};

function formatOptions(options: NonNullable<CommandSpec['options']>): string[] {
  const flags = Object.entries(options).map(
    ([name, o]) =>
      `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.arg ?? '<value>'}` : ''}`,
  );
  // One column for every description, after the longest flag (a long `<a|b>` placeholder must
  // not push its own description out of line).
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  return Object.values(options).map((o, i) => {
    const extra = [o.default !== undefined ? `default: ${String(o.default)}` : '', o.env ? `env: ${o.env}` : '']
      .filter(Boolean)
      .join('; ');
    return `  ${flags[i]!.padEnd(width)}${o.description}${extra ? ` (${extra})` : ''}`;
  });
}

/** `name  summary` lines, aligned. */
function commandList(commands: readonly CommandSpec[]): string[] {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return commands.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`);
}

/** Commands one word below `prefix` and deeper, e.g. `auth token` and `auth jwks` under `auth`. */
function subcommands(commands: readonly CommandSpec[], prefix: string): CommandSpec[] {
  return commands.filter((c) => c.name.startsWith(`${prefix} `));
}

/** Top-level help: every command with its summary. */
export function globalHelp(commands: readonly CommandSpec[]): string {
  return [
    'stella — StellaOps Export & Evidence',
    '',
    'Usage: stella <command> [options]',
    '       stella --version',
    '',
    'Commands:',
    ...commandList(commands),
    '',
    'Run `stella <command> --help` for a command. Exit codes: 0 ok, 1 error, 2 usage, 3 verification failed.',
  ].join('\n');
}

/** Help for a command group such as `auth`: its subcommands. */
export function groupHelp(group: string, members: readonly CommandSpec[]): string {
  return [
    `Usage: stella ${group} <command> [options]`,
    '',
    'Commands:',
    ...commandList(members),
    '',
    `Run \`stella ${group} <command> --help\` for a command.`,
  ].join('\n');
}

/** Help for one command, from its metadata. */
export function commandHelp(c: CommandSpec, subs: readonly CommandSpec[] = []): string {
  return [
    `Usage: stella ${c.name}${c.options && Object.keys(c.options).length ? ' [options]' : ''}${c.args ? ` ${c.args}` : ''}`,
    '',
    c.summary,
    ...(c.description ? ['', c.description] : []),
    '',
    'Options:',
    ...formatOptions({ ...c.options, ...GLOBAL_OPTIONS }),
    ...(subs.length ? ['', 'Subcommands:', ...commandList(subs)] : []),
  ].join('\n');
}

const HELP_FLAGS = new Set(['--help', '-h']);

/**
 * `parseArgs` errors in our own words. Node's unknown-option message ends in an unbalanced quote
 * (`as in '-- "--x"`) and explains a corner case first; say what is wrong and how to pass a
 * positional that starts with '-'.
 */
function parseErrorMessage(err: Error & { code?: string }): string {
  const unknown = /^Unknown option '([^']+)'/.exec(err.message);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown)
    return `unknown option '${unknown[1]}' (to pass a file name that starts with '-', put it after '--')`;
  return err.message;
}

/** Longest command name matching the leading words of argv. */
function findCommand(commands: readonly CommandSpec[], argv: string[]): { cmd?: CommandSpec; rest: string[] } {
  let best: CommandSpec | undefined;
  for (const c of commands) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.name.split(' ').length)) best = c;
  }
  return { cmd: best, rest: best ? argv.slice(best.name.split(' ').length) : argv };
}

export async function main(args: string[], io: Partial<CommandIO> = {}): Promise<number> {
  const ctxIO: CommandIO = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
  };
  const commands = await allCommands();
  const argv = args[0] === '--version' ? ['version', ...args.slice(1)] : args;
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    println(ctxIO.stdout, globalHelp(commands));
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK;
  }
  const { cmd, rest } = findCommand(commands, argv);
  if (!cmd) {
    const prefix = subcommands(commands, argv[0]!);
    // `stella auth --help` (or a bare `stella auth`): the group's commands.
    if (prefix.length && argv.length <= 2 && (argv.length === 1 || HELP_FLAGS.has(argv[1]!))) {
      println(argv.length === 1 ? ctxIO.stderr : ctxIO.stdout, groupHelp(argv[0]!, prefix));
      return argv.length === 1 ? EXIT.USAGE : EXIT.OK;
    }
    println(ctxIO.stderr, `stella: unknown command '${argv.join(' ')}'`);
    if (prefix.length) println(ctxIO.stderr, `Did you mean: ${prefix.map((c) => `stella ${c.name}`).join(', ')}`);
    else println(ctxIO.stderr, 'Run `stella --help` for the list of commands.');
    return EXIT.USAGE;
  }
  const options = { ...cmd.options, ...GLOBAL_OPTIONS };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [
          k,
          { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
        ]),
      ),
    });
  } catch (err) {
    println(ctxIO.stderr, `stella ${cmd.name}: ${parseErrorMessage(err as Error & { code?: string })}`);
    println(ctxIO.stderr, `Run \`stella ${cmd.name} --help\` for usage.`);
    return EXIT.USAGE;
  }
  if (parsed.values.help) {
    println(ctxIO.stdout, commandHelp(cmd, subcommands(commands, cmd.name)));
    return EXIT.OK;
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  for (const [k, o] of Object.entries(options)) {
    if (values[k] === undefined && o.env && ctxIO.env[o.env] !== undefined) values[k] = ctxIO.env[o.env];
    if (values[k] === undefined && o.default !== undefined) values[k] = o.default;
  }
  const { min = 0, max = Infinity } = cmd.positionals ?? {};
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    println(
      ctxIO.stderr,
      `stella ${cmd.name}: expected ${max === Infinity ? `at least ${min}` : min === max ? `${min}` : `${min}–${max}`} argument(s)${cmd.args ? `: ${cmd.args}` : ''}`,
    );
    return EXIT.USAGE;
  }
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await cmd.run({
      ...ctxIO,
      values,
      positionals: parsed.positionals,
      json: values.json === true,
      signal: abort.signal,
    });
  } catch (err) {
    if (err instanceof UsageError) {
      println(ctxIO.stderr, `stella ${cmd.name}: ${err.message}`);
      return EXIT.USAGE;
    }
    const server = typeof values.server === 'string' ? values.server : undefined;
    println(ctxIO.stderr, `stella ${cmd.name}: ${explainError(err, server ? { server } : {})}`);
    if (ctxIO.env.STELLA_DEBUG) println(ctxIO.stderr, (err as Error).stack ?? '');
    return EXIT.ERROR;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
