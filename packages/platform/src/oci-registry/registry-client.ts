/**
 * An OCI distribution-spec v1.1 client over Node's fetch (undici): the start of the distribution
 * engine of issue #15 (docs/formats/oci.md "Registry client"; spec shared/specs/trivy-db-and-oci.md
 * §4.3–4.6). What it does now:
 *
 * - `ping()` — `GET /v2/` (answers the auth challenge once, so later bodies go out authorised);
 * - `hasBlob` — `HEAD /v2/<name>/blobs/<digest>`;
 * - `pushBlob` — monolithic upload `POST /v2/<name>/blobs/uploads/` → `PUT <Location>?digest=`,
 *   streamed with a `Content-Length`, skipped when the blob is already there;
 * - `pushManifest` — `PUT /v2/<name>/manifests/<ref>` with the exact bytes and `Content-Type` =
 *   the document's `mediaType`; the registry's `Docker-Content-Digest` must equal ours;
 * - `getManifest` / `getBlob` — pulls that verify the digest (a manifest by tag is checked
 *   against `Docker-Content-Digest` when the registry sends one, a digest reference always);
 * - Basic auth (`401` + `WWW-Authenticate: Basic`), and clear errors for anything else.
 *
 * Not yet (issue #15): chunked PATCH uploads, cross-repo mounts, Bearer tokens, referrers.
 * Redirects are followed by fetch, which drops `Authorization` on cross-origin hops (fetch spec),
 * so blob redirects to a CDN do not leak credentials.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StellaError } from '@stella/core/errors';
import { OCI_MEDIA_TYPES, isOciDigest, parseManifestOrIndex } from '@stella/core/oci';
import { parseAuthChallenges } from './auth-challenge.js';
import { isRepositoryName, isTag } from './reference.js';

/** Options of {@link OciRegistryClient}. */
export interface OciRegistryClientOptions {
  /** `host[:port]` of the registry. */
  readonly registry: string;
  /**
   * `http` only for loopback/test registries and sites that ask for it (like `--insecure` /
   * `--dest-tls-verify=false`); default `https`.
   */
  readonly scheme?: 'https' | 'http';
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Per-request timeout (headers and body); default 120 s. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /** Injected for tests; default the global fetch. */
  readonly fetch?: typeof fetch;
}

/** A blob to push: its digest and size, and a body factory (called again if a retry needs it). */
export interface OciBlobSource {
  readonly digest: string;
  readonly size: number;
  body(): Uint8Array | Readable | AsyncIterable<Uint8Array>;
}

/** A pulled manifest or index. */
export interface PulledManifest {
  readonly bytes: Uint8Array;
  readonly mediaType: string;
  readonly digest: string;
}

/** Accept header for manifests: registry 2.8 answers OCI manifests only when asked (spec §4.5). */
export const MANIFEST_ACCEPT = [OCI_MEDIA_TYPES.manifest, OCI_MEDIA_TYPES.index].join(', ');

interface RegistryErrorBody {
  errors?: { code?: string; message?: string; detail?: unknown }[];
}

function registryError(
  method: string,
  path: string,
  status: number,
  body: RegistryErrorBody | undefined,
  text: string,
): StellaError {
  const errors = (body?.errors ?? []).map((e) => ({ code: String(e.code ?? ''), message: String(e.message ?? '') }));
  const what = errors.length ? errors.map((e) => `${e.code}: ${e.message}`).join('; ') : text.slice(0, 200).trim();
  const code = status === 401 || status === 403 ? 'OCI_REGISTRY_AUTH' : 'OCI_REGISTRY_ERROR';
  return new StellaError(code, `registry ${method} ${path} → ${status}${what ? ` (${what})` : ''}`, {
    details: { method, path, status, errors },
  });
}

function checkRepo(repo: string): void {
  if (!isRepositoryName(repo))
    throw new StellaError('VALIDATION_FAILED', `${JSON.stringify(repo)} is not a repository name`, {
      details: { repository: repo },
    });
}

function checkRef(ref: string): void {
  if (!isTag(ref) && !isOciDigest(ref))
    throw new StellaError('VALIDATION_FAILED', `${JSON.stringify(ref)} is neither a tag nor a digest`, {
      details: { reference: ref },
    });
}

function toChunks(b: Uint8Array | Readable | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (b instanceof Uint8Array)
    return (async function* () {
      yield b;
    })();
  return b;
}

function digestMismatch(what: string, want: string, got: string, size?: number): StellaError {
  return new StellaError('DIGEST_MISMATCH', `${what}: expected ${want}, got ${got}`, {
    details: { expected: want, actual: got, ...(size !== undefined ? { size } : {}) },
  });
}

export class OciRegistryClient {
  readonly registry: string;
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly credentials: OciRegistryClientOptions['credentials'];
  /** The Authorization header, once a challenge asked for one we can answer. */
  private authorization: string | undefined;

  constructor(opts: OciRegistryClientOptions) {
    this.registry = opts.registry;
    this.base = `${opts.scheme ?? 'https'}://${opts.registry}`;
    this.fetchFn = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.userAgent = opts.userAgent ?? 'stella-oci-registry-client';
    this.credentials = opts.credentials;
  }

  /**
   * One request, answering a `401` challenge once. `body` is a factory so the retry can send the
   * body again. Network failures become OCI_REGISTRY_ERROR naming the request.
   */
  private async request(
    method: string,
    pathOrUrl: string,
    init: {
      headers?: Record<string, string>;
      body?: () => Uint8Array | AsyncIterable<Uint8Array>;
      /** Statuses that are not errors (others throw with the registry's error body). */
      ok: readonly number[];
    },
  ): Promise<Response> {
    const url = new URL(pathOrUrl, this.base);
    if (url.origin !== new URL(this.base).origin)
      // A Location on another host (blob storage behind the registry) gets no credentials, and
      // its 401 is an error like any other status.
      return this.send(method, url, init, false);
    const first = await this.send(method, url, init, true);
    if (first.status !== 401 || init.ok.includes(401)) return first;
    const challenges = parseAuthChallenges(first.headers.get('www-authenticate'));
    await first.body?.cancel().catch(() => undefined);
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic && this.credentials && this.authorization === undefined) {
      const { username, password } = this.credentials;
      this.authorization = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
      const second = await this.send(method, url, init, true);
      if (second.status !== 401) return second;
      await second.body?.cancel().catch(() => undefined);
    }
    const schemes = challenges.map((c) => c.scheme).join(', ') || 'none';
    const why = !this.credentials
      ? 'the registry wants credentials and none were given'
      : basic
        ? 'the registry refused the credentials'
        : `the registry asks for ${schemes} authentication, which this client does not speak yet (Basic only)`;
    throw new StellaError('OCI_REGISTRY_AUTH', `registry ${method} ${url.pathname} → 401: ${why}`, {
      details: { method, path: url.pathname, status: 401, challenges: challenges.map((c) => c.scheme) },
    });
  }

  private async send(
    method: string,
    url: URL,
    init: {
      headers?: Record<string, string>;
      body?: () => Uint8Array | AsyncIterable<Uint8Array>;
      ok: readonly number[];
    },
    withAuth: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...(init.headers ?? {}) };
    if (withAuth && this.authorization) headers['authorization'] = this.authorization;
    const body = init.body?.();
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(body === undefined
          ? {}
          : body instanceof Uint8Array
            ? { body }
            : // A stream body: fetch needs half duplex; Content-Length comes from the caller.
              ({ body: Readable.from(body), duplex: 'half' } as unknown as RequestInit)),
      });
    } catch (e) {
      throw new StellaError('OCI_REGISTRY_ERROR', `registry ${method} ${url.pathname}: ${(e as Error).message}`, {
        cause: e,
        details: { method, path: url.pathname },
      });
    }
    // A 401 goes back to `request` (to answer the challenge) only for requests that carry our auth.
    if (init.ok.includes(res.status) || (res.status === 401 && withAuth)) return res;
    const text = await res.text().catch(() => '');
    let parsed: RegistryErrorBody | undefined;
    try {
      parsed = JSON.parse(text) as RegistryErrorBody;
    } catch {
      parsed = undefined;
    }
    throw registryError(method, url.pathname, res.status, parsed, text);
  }

  /** `GET /v2/`: the registry speaks the distribution API (and we are authorised, if it asks). */
  async ping(): Promise<void> {
    const res = await this.request('GET', '/v2/', { ok: [200] });
    await res.body?.cancel().catch(() => undefined);
  }

  /** `HEAD /v2/<name>/blobs/<digest>` → true (200) / false (404). */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    checkRepo(repo);
    if (!isOciDigest(digest)) throw new StellaError('VALIDATION_FAILED', `not a digest: ${JSON.stringify(digest)}`);
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { ok: [200, 404] });
    await res.body?.cancel().catch(() => undefined);
    return res.status === 200;
  }

  /**
   * Uploads a blob monolithically (POST, then PUT to the returned Location with `?digest=`), unless
   * `HEAD` finds it there already. The body is streamed with its declared `Content-Length`; the
   * registry verifies the digest (DIGEST_INVALID → OCI_REGISTRY_ERROR) and we check the size.
   */
  async pushBlob(repo: string, blob: OciBlobSource): Promise<'exists' | 'uploaded'> {
    if (await this.hasBlob(repo, blob.digest)) return 'exists';
    const post = await this.request('POST', `/v2/${repo}/blobs/uploads/`, {
      headers: { 'content-length': '0' },
      ok: [202],
    });
    await post.body?.cancel().catch(() => undefined);
    const location = post.headers.get('location');
    if (!location)
      throw new StellaError('OCI_REGISTRY_ERROR', `registry POST /v2/${repo}/blobs/uploads/ → 202 without Location`, {
        details: { method: 'POST', path: `/v2/${repo}/blobs/uploads/`, status: 202 },
      });
    const url = new URL(location, this.base);
    url.searchParams.set('digest', blob.digest);
    const size = blob.size;
    const put = await this.request('PUT', url.toString(), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: () => {
        const b = blob.body();
        if (b instanceof Uint8Array) {
          if (b.byteLength !== size)
            throw digestMismatch(`blob ${blob.digest}`, `${size} bytes`, `${b.byteLength} bytes`);
          return b;
        }
        return toChunks(b);
      },
      ok: [201],
    });
    await put.body?.cancel().catch(() => undefined);
    return 'uploaded';
  }

  /**
   * `PUT /v2/<name>/manifests/<tag|digest>` with the exact bytes. The Content-Type is the
   * document's own `mediaType` (checked by parsing it); the registry must answer with our digest.
   */
  async pushManifest(repo: string, ref: string, bytes: Uint8Array): Promise<{ digest: string; mediaType: string }> {
    checkRepo(repo);
    checkRef(ref);
    const doc = parseManifestOrIndex(bytes);
    const mediaType = doc.kind === 'index' ? OCI_MEDIA_TYPES.index : OCI_MEDIA_TYPES.manifest;
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (isOciDigest(ref) && ref !== digest) throw digestMismatch(`manifest pushed as ${ref}`, ref, digest);
    const res = await this.request('PUT', `/v2/${repo}/manifests/${ref}`, {
      headers: { 'content-type': mediaType, 'content-length': String(bytes.byteLength) },
      body: () => bytes,
      ok: [201],
    });
    await res.body?.cancel().catch(() => undefined);
    const theirs = res.headers.get('docker-content-digest');
    if (theirs && theirs !== digest) throw digestMismatch(`registry stored manifest ${repo}:${ref}`, digest, theirs);
    return { digest, mediaType };
  }

  /**
   * `GET /v2/<name>/manifests/<ref>` with the OCI Accept types. Verifies the bytes against `ref`
   * (digest references) or the `Docker-Content-Digest` header (tags), and that they parse as the
   * media type the registry names.
   */
  async getManifest(repo: string, ref: string, maxBytes = 4 * 1024 * 1024): Promise<PulledManifest> {
    checkRepo(repo);
    checkRef(ref);
    const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, {
      headers: { accept: MANIFEST_ACCEPT },
      ok: [200],
    });
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new StellaError('OCI_INVALID', `manifest ${repo}:${ref} is ${declared} bytes; the limit is ${maxBytes}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.byteLength > maxBytes)
      throw new StellaError('OCI_INVALID', `manifest ${repo}:${ref} is over ${maxBytes} bytes`);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const want = isOciDigest(ref) ? ref : (res.headers.get('docker-content-digest') ?? undefined);
    if (want !== undefined && want !== digest) throw digestMismatch(`manifest ${repo}:${ref}`, want, digest);
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    parseManifestOrIndex(bytes, mediaType || undefined);
    return { bytes, mediaType, digest };
  }

  /**
   * `GET /v2/<name>/blobs/<digest>` as a stream that hashes on the way and throws DIGEST_MISMATCH
   * at the end (or as soon as more than `size` bytes arrive, when `size` is given), so a consumer
   * writing it to disk must treat the file as untrusted until the stream has ended cleanly.
   */
  async *getBlob(repo: string, digest: string, size?: number): AsyncGenerator<Uint8Array> {
    checkRepo(repo);
    if (!isOciDigest(digest)) throw new StellaError('VALIDATION_FAILED', `not a digest: ${JSON.stringify(digest)}`);
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`, { ok: [200] });
    const alg = digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    const hash = createHash(alg);
    let n = 0;
    if (!res.body) throw new StellaError('OCI_REGISTRY_ERROR', `registry GET blob ${digest}: no body`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      n += chunk.byteLength;
      if (size !== undefined && n > size)
        throw digestMismatch(`blob ${digest}`, `${size} bytes`, `more than ${size} bytes`);
      hash.update(chunk);
      yield chunk;
    }
    const got = `${alg}:${hash.digest('hex')}`;
    if (got !== digest || (size !== undefined && n !== size)) throw digestMismatch(`blob ${digest}`, digest, got, n);
  }
}
