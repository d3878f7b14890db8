/**
 * Command-line options shared by the benches: `--name value` options, flags, and the data size
 * (`--size-mib N`, or `--size 1GiB` / `512MiB` / `64KiB`). With `--json` the human log goes to
 * stderr so stdout carries only the JSON result.
 */
export interface BenchArgs {
  /** `--name value`, or `def` when absent. */
  opt(name: string, def: string): string;
  /** A numeric option; exits with usage code 2 when it is not a finite number. */
  num(name: string, def: number): number;
  /** `--name` present. */
  flag(name: string): boolean;
  /** `--json` given. */
  readonly json: boolean;
  /** One line of human output (stdout, or stderr under `--json`). */
  log(line: string): void;
}

export function benchArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const opt = (name: string, def: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
  };
  const json = argv.includes('--json');
  return {
    opt,
    num(name, def) {
      const v = Number(opt(name, String(def)));
      if (!Number.isFinite(v)) usage(`--${name} must be a number`);
      return v;
    },
    flag: (name) => argv.includes(`--${name}`),
    json,
    log: (line) => void (json ? process.stderr : process.stdout).write(`${line}\n`),
  };
}

/** Bytes from `--size-mib N` (preferred) or `--size <n>[B|KiB|MiB|GiB]`; `defMiB` otherwise. */
export function sizeOption(a: BenchArgs, defMiB: number): number {
  const sizeArg = a.opt('size', '');
  if (sizeArg === '') {
    const mib = a.num('size-mib', defMiB);
    if (!(mib > 0)) usage('--size-mib must be > 0');
    return Math.round(mib * 2 ** 20);
  }
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(sizeArg);
  if (!m) usage(`bad --size ${sizeArg} (e.g. 1GiB, 64MiB; or --size-mib 64)`);
  const mult = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 }[(m[2] ?? 'B').toLowerCase() as 'b'];
  return Math.round(Number(m[1]) * mult);
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\n`);
  process.exit(2);
}
