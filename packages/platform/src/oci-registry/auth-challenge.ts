/**
 * `WWW-Authenticate` challenges of a registry (RFC 9110 §11.6.1; spec shared/specs/trivy-db-and-oci.md
 * §4.4): `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`. Only the scheme and its
 * auth-params are parsed; what to do with them is the client's business.
 */

export interface AuthChallenge {
  /** Lower-cased scheme, e.g. `basic`, `bearer`. */
  readonly scheme: string;
  /** auth-params, names lower-cased, quoted values unescaped. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

/**
 * Parses one header value into its challenges (several may be listed, comma-separated). Malformed
 * tails are ignored: a challenge we cannot read is one we cannot answer, which the caller reports.
 */
export function parseAuthChallenges(header: string | null | undefined): AuthChallenge[] {
  if (!header) return [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(s);
    if (!m) return undefined;
    i = TOKEN.lastIndex;
    return m[0];
  };
  while (i < s.length) {
    skipWs();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const scheme = token();
    if (!scheme) break;
    const current = { scheme: scheme.toLowerCase(), params: {} as Record<string, string> };
    out.push(current);
    // auth-params: name=value pairs separated by commas, until the next scheme token.
    for (;;) {
      skipWs();
      const save = i;
      const name = token();
      if (!name) break;
      skipWs();
      if (s[i] !== '=') {
        i = save; // the next challenge's scheme
        break;
      }
      i++;
      skipWs();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else value = token() ?? '';
      current.params[name.toLowerCase()] = value;
      skipWs();
      if (s[i] === ',') i++;
    }
  }
  return out;
}
