/**
 * Package URLs (https://github.com/package-url/purl-spec): just enough to read the package type
 * (our ecosystem for SBOM/VEX records) and the name (with namespace) for the package filter.
 */
export function parsePurl(purl: unknown): { type: string; name: string } | undefined {
  if (typeof purl !== 'string' || !purl.startsWith('pkg:')) return undefined;
  const rest = purl.slice(4).replace(/^\/+/, '').split('#')[0]!.split('?')[0]!;
  const at = rest.lastIndexOf('@');
  const path = (at > 0 ? rest.slice(0, at) : rest).split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  const [type, ...parts] = path;
  if (!type || parts.length === 0) return undefined;
  return { type: type.toLowerCase(), name: parts.join('/') };
}
