/**
 * Scopes and roles (DESIGN.md §3 "Auth"). A token's `scope` claim is a
 * space-separated list (RFC 8693 §4.2 / RFC 9068 §2.2.3 use the same shape). Roles are named scope
 * sets; they are expanded when a token is minted, so verifiers only ever compare scopes.
 */
import { StellaError } from '@stella/core/errors';

/** Every scope a route may require. */
export const SCOPES = [
  'evidence:read',
  'evidence:create',
  'evidence:hold',
  'timeline:read',
  'timeline:write',
  'timeline:admin',
  'export:read',
  'export:run',
  'export:profile:manage',
  'export:download',
  'ops:incident',
] as const;
export type Scope = (typeof SCOPES)[number];

const VIEWER: readonly Scope[] = ['evidence:read', 'timeline:read', 'export:read'];
const OPERATOR: readonly Scope[] = [...VIEWER, 'evidence:create', 'timeline:write', 'export:run', 'export:download'];

/**
 * Named scope sets. viewer reads; operator also creates evidence, writes timeline events, runs
 * and downloads exports; admin adds legal holds, timeline retention, export profile management and incident mode.
 */
export const ROLES = {
  viewer: VIEWER,
  operator: OPERATOR,
  admin: SCOPES,
} as const satisfies Record<string, readonly Scope[]>;
export type Role = keyof typeof ROLES;

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

/**
 * Parses a user-supplied scope list (space or comma separated) where role names (`viewer`,
 * `operator`, `admin`) expand to their scopes. Result is sorted in {@link SCOPES} order without
 * duplicates. Unknown names → `VALIDATION_FAILED` listing them.
 */
export function parseScopeList(input: string): Scope[] {
  const words = input.split(/[\s,]+/).filter(Boolean);
  if (words.length === 0)
    throw new StellaError('VALIDATION_FAILED', 'no scope given', {
      details: { known: [...SCOPES], roles: Object.keys(ROLES) },
    });
  const out = new Set<Scope>();
  const unknown: string[] = [];
  for (const w of words) {
    if (isScope(w)) out.add(w);
    else if (Object.hasOwn(ROLES, w)) for (const s of ROLES[w as Role]) out.add(s);
    else unknown.push(w);
  }
  if (unknown.length) {
    throw new StellaError('VALIDATION_FAILED', `unknown scope(s): ${unknown.join(', ')}`, {
      details: { unknown, known: [...SCOPES], roles: Object.keys(ROLES) },
    });
  }
  return SCOPES.filter((s) => out.has(s));
}
