/**
 * Small checks for adapter options (ExportAdapter.validateOptions): each one records a problem
 * with its JSON pointer (RFC 6901) instead of throwing, so a profile learns every problem at once.
 */
import type { OptionProblem } from './adapter.js';

/** RFC 6901 §3: `~` → `~0`, `/` → `~1`. */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

export class OptionChecker {
  readonly problems: OptionProblem[] = [];
  readonly options: Record<string, unknown>;

  constructor(
    raw: unknown,
    private readonly known: readonly string[],
  ) {
    if (raw === undefined || raw === null) this.options = {};
    else if (typeof raw !== 'object' || Array.isArray(raw)) {
      this.problem('', 'options must be an object');
      this.options = {};
    } else this.options = raw as Record<string, unknown>;
    for (const key of Object.keys(this.options))
      if (!known.includes(key)) this.problem(pointer(key), `unknown option; known: ${known.join(', ')}`);
  }

  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** One of `values` (default when absent). */
  oneOf<T extends string>(key: string, values: readonly T[], fallback: T): T {
    const v = this.options[key];
    if (v === undefined) return fallback;
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    this.problem(pointer(key), `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
    return fallback;
  }

  /** An integer in [min, max] (default when absent). */
  integer(key: string, min: number, max: number, fallback: number): number {
    const v = this.options[key];
    if (v === undefined) return fallback;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    this.problem(pointer(key), `must be an integer from ${min} to ${max}`);
    return fallback;
  }

  /** A boolean (default when absent). */
  boolean(key: string, fallback: boolean): boolean {
    const v = this.options[key];
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    this.problem(pointer(key), 'must be true or false');
    return fallback;
  }

  /** A list of non-empty, unique strings; returned sorted. */
  stringList(path: string, v: unknown): string[] | undefined {
    if (!Array.isArray(v)) {
      this.problem(path, 'must be an array of strings');
      return undefined;
    }
    const seen = new Set<string>();
    v.forEach((s, i) => {
      if (typeof s !== 'string' || s === '') this.problem(`${path}/${i}`, 'must be a non-empty string');
      else if (seen.has(s)) this.problem(`${path}/${i}`, `${JSON.stringify(s)} is listed twice`);
      else seen.add(s);
    });
    return [...seen].sort();
  }
}
