/**
 * The CLI's command model: each command is metadata (name, summary, options, positionals) plus a
 * `run` function. Help text is generated from the metadata; parsing uses `node:util` parseArgs.
 * Exit codes (DESIGN.md §5): 0 ok, 1 error, 2 usage, 3 verification failed.
 */
import type { Writable } from 'node:stream';

export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, VERIFY_FAILED: 3 } as const;

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help, e.g. `<uri>`. */
  arg?: string;
  description: string;
  default?: string | boolean;
  multiple?: boolean;
  /** Environment variable used when the option is not given (documented in help). */
  env?: string;
}

export interface CommandIO {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface CommandContext extends CommandIO {
  /** Parsed option values (after env fallbacks and defaults). */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** `--json` was given. */
  json: boolean;
  /** Resolves once SIGINT/SIGTERM is received (for long-running commands like `serve`). */
  signal: AbortSignal;
}

export interface CommandSpec {
  /** Space-separated words, e.g. `merkle prove`. */
  name: string;
  summary: string;
  /** Positional synopsis for help, e.g. `<file>…`. */
  args?: string;
  /** Longer description and examples for `--help`. */
  description?: string;
  options?: Record<string, OptionSpec>;
  positionals?: { min?: number; max?: number };
  run(ctx: CommandContext): Promise<number>;
}

/** Thrown by commands for bad arguments: printed without a stack, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Write a line to a stream. */
export function println(stream: Writable, text = ''): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Read a string option, or throw a usage error if it is required and absent. */
export function stringOpt(ctx: CommandContext, name: string, required: true): string;
export function stringOpt(ctx: CommandContext, name: string, required?: false): string | undefined;
export function stringOpt(ctx: CommandContext, name: string, required = false): string | undefined {
  const v = ctx.values[name];
  if (typeof v === 'string' && v !== '') return v;
  if (required) throw new UsageError(`--${name} is required`);
  return undefined;
}
