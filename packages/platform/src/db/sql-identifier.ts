/** Role names we accept for the application role: a plain lower-case SQL identifier. */
export const ROLE_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** `"name"` — only ever called with names that passed {@link ROLE_NAME_PATTERN}. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
