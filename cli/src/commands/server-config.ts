/**
 * The server configuration as the CLI's server-side commands (`serve`, `migrate`) see it: their
 * flags come from the config table (each flag overrides the variable it names), and the config is
 * loaded once with the service registry — so every command resolves the data dir, the database
 * and the services the same way (issue #6 item 3, issue #7 item 1).
 */
import { CONFIG_VARIABLES } from '@stella/platform/config';
import type { StellaConfig } from '@stella/platform/config';
import { EXIT, println, type CommandContext, type OptionSpec } from '../command.js';

/** First sentence of a variable's description (up to a `.` or `:` outside parentheses): the flag's help line. */
function firstSentence(text: string): string {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if ((c === '.' || c === ':') && depth === 0 && (i + 1 === text.length || /\s/.test(text[i + 1]!)))
      return text.slice(0, i);
  }
  return text;
}

/** `--flag` options of the config variables named in `variables` (all flagged ones by default). */
export function configFlagOptions(variables?: readonly string[]): Record<string, OptionSpec> {
  const out: Record<string, OptionSpec> = {};
  for (const v of CONFIG_VARIABLES) {
    if (!('flag' in v) || !v.flag) continue;
    if (variables && !variables.includes(v.name)) continue;
    out[v.flag.replace(/^--/, '')] = {
      type: 'string',
      arg: 'flagArg' in v && v.flagArg ? v.flagArg : '<value>',
      description: firstSentence(v.description),
      env: v.name,
    };
  }
  return out;
}

/**
 * Loads the server configuration from the environment and the command's flags, checked against
 * the service registry. On `CONFIG_INVALID` prints every problem and returns the usage exit code.
 */
export async function loadServerConfig(
  ctx: CommandContext,
  command: string,
  /** Where unknown `STELLA_*` variables (likely typos) are reported; default a warning line on stderr. */
  warnUnknown: (name: string) => void = (name) =>
    println(ctx.stderr, `stella ${command}: warning: unknown variable ${name} (typo?)`),
): Promise<StellaConfig | number> {
  const { loadConfig, flagOverrides, unknownVariables } = await import('@stella/platform/config');
  const { isStellaError } = await import('@stella/core/errors');
  const { SERVICES } = await import('@stella/server/service-registry');
  try {
    const config = loadConfig(ctx.env, flagOverrides(ctx.values), { cwd: ctx.cwd, services: SERVICES });
    for (const name of unknownVariables(ctx.env, SERVICES)) warnUnknown(name);
    return config;
  } catch (err) {
    if (!isStellaError(err, 'CONFIG_INVALID')) throw err;
    const problems =
      (err.details as { problems?: { variable?: string; message: string }[] } | undefined)?.problems ?? [];
    println(ctx.stderr, `stella ${command}: invalid configuration:`);
    for (const p of problems) println(ctx.stderr, `  - ${p.variable ? `${p.variable}: ` : ''}${p.message}`);
    if (problems.length === 0) println(ctx.stderr, `  - ${err.message}`);
    return EXIT.USAGE;
  }
}
