/**
 * Image references `host[:port]/name[:tag][@digest]` (distribution `reference` grammar, the part a
 * registry client needs: spec shared/specs/trivy-db-and-oci.md §4.3). Only fully-qualified
 * references are accepted — no implicit `docker.io/library/` — because an air-gapped push must say
 * where it goes.
 */
import { StellaError } from '@stella/core/errors';
import { isOciDigest } from '@stella/core/oci';

/** distribution-spec §Pulling manifests: `<name>` path components. */
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** distribution-spec: `<reference>` as a tag. */
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** A registry host: DNS name or IPv4, optional port; or a bracketed IPv6 literal with optional port. */
const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export interface OciReference {
  /** `host[:port]`, e.g. `127.0.0.1:5000`, `registry.internal`. */
  readonly registry: string;
  /** Repository name, e.g. `aquasec/trivy-db`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

function bad(ref: string, why: string): StellaError {
  return new StellaError('VALIDATION_FAILED', `image reference ${JSON.stringify(ref)}: ${why}`, {
    details: { reference: ref, reason: why },
  });
}

/** True when `name` is a valid repository name (distribution-spec). */
export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && NAME_RE.test(name);
}

/** True when `tag` is a valid tag. */
export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/**
 * Parses `host[:port]/name[:tag][@digest]`. The first path component is the registry (it must
 * look like a host: contain `.` or `:`, or be `localhost`). VALIDATION_FAILED otherwise.
 */
export function parseOciReference(ref: string): OciReference {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 4096) throw bad(String(ref), 'empty or too long');
  const slash = ref.indexOf('/');
  if (slash <= 0) throw bad(ref, 'must start with a registry host (host[:port]/name)');
  const registry = ref.slice(0, slash);
  if (!HOST_RE.test(registry) || !(registry.includes('.') || registry.includes(':') || registry === 'localhost'))
    throw bad(ref, `${JSON.stringify(registry)} is not a registry host (host[:port])`);
  let rest = ref.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isOciDigest(digest)) throw bad(ref, `${JSON.stringify(digest)} is not a sha256/sha512 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && !rest.slice(colon).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) throw bad(ref, `${JSON.stringify(tag)} is not a valid tag`);
  }
  if (!isRepositoryName(rest)) throw bad(ref, `${JSON.stringify(rest)} is not a valid repository name`);
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** `host/name[:tag][@digest]` again. */
export function formatOciReference(r: OciReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
