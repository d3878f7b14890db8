import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StellaError } from '@stella/core/errors';

/** A `file:` signer: a PEM or JWK private key on disk. */
export interface FileSignerRef {
  kind: 'file';
  /** Absolute path of the key file. */
  path: string;
}

/** A `pkcs11:` signer (RFC 7512): a private key on a PKCS#11 token. */
export interface Pkcs11SignerRef {
  kind: 'pkcs11';
  /** Token label (`token=`). */
  token: string;
  /** Key label (`object=`), if given. */
  object?: string;
  /** Key CKA_ID bytes (`id=`, percent-encoded), if given. */
  id?: Uint8Array;
  /** Token serial number (`serial=`), to disambiguate equal labels. */
  serial?: string;
  /** Absolute path of the PKCS#11 module (`module-path=`). */
  modulePath: string;
  /** Where the user PIN comes from: `pin-source=file:/path` or (tests) `pin-value=`. */
  pin?: { source: 'file'; path: string } | { source: 'value'; value: string };
}

export type SignerRef = FileSignerRef | Pkcs11SignerRef;

function bad(uri: string, why: string): StellaError {
  // Never echo a pin-value back into logs or error bodies.
  return new StellaError('SIGNER_URI_INVALID', `signer URI ${redactSignerUri(uri)}: ${why}`, {
    details: { uri: redactSignerUri(uri) },
  });
}

function pctDecode(uri: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad(uri, `bad percent-encoding in ${JSON.stringify(s)}`);
  }
}

/** Percent-decodes to raw bytes (RFC 7512 §2.3: `id` is a byte string, not text). */
function pctBytes(uri: string, s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw bad(uri, `bad percent-encoding in id`);
      out.push(parseInt(h, 16));
      i += 2;
    } else out.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Uint8Array.from(out);
}

/** Replaces any `pin-value=` in a PKCS#11 URI by `***`, for logs and errors. */
export function redactSignerUri(uri: string): string {
  return uri.replace(/(pin-value=)[^&]*/gi, '$1***');
}

const PATH_ATTRS = new Set([
  'token',
  'object',
  'id',
  'type',
  'serial',
  'manufacturer',
  'model',
  'slot-id',
  'slot-description',
  'slot-manufacturer',
  'library-description',
  'library-manufacturer',
  'library-version',
]);
const QUERY_ATTRS = new Set(['module-path', 'module-name', 'pin-source', 'pin-value']);

function parseAttrs(uri: string, part: string, sep: string, allowed: Set<string>, where: string): Map<string, string> {
  const m = new Map<string, string>();
  if (part === '') return m;
  for (const pair of part.split(sep)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw bad(uri, `${where} attribute ${JSON.stringify(pair)} is not name=value`);
    const name = pair.slice(0, eq).toLowerCase();
    // RFC 7512 §2.3: vendor attributes start with "x-"; we ignore those and reject other unknowns.
    if (!allowed.has(name) && !name.startsWith('x-'))
      throw bad(uri, `unknown ${where} attribute ${JSON.stringify(name)}`);
    if (m.has(name)) throw bad(uri, `attribute ${JSON.stringify(name)} is repeated`);
    m.set(name, pair.slice(eq + 1));
  }
  return m;
}

function parseFileRef(uri: string, cwd: string): FileSignerRef {
  const rest = uri.slice('file:'.length);
  if (rest === '') throw bad(uri, 'no path');
  let path: string;
  if (rest.startsWith('//')) {
    // RFC 8089 form file://[localhost]/abs/path
    try {
      const u = new URL(uri);
      if (u.host !== '' && u.host !== 'localhost') throw bad(uri, 'remote file hosts are not supported');
      if (u.search || u.hash) throw bad(uri, 'file URIs take no query or fragment');
      path = fileURLToPath(new URL(`file://${u.pathname}`));
    } catch (err) {
      if (err instanceof StellaError) throw err;
      throw bad(uri, (err as Error).message);
    }
  } else {
    const decoded = pctDecode(uri, rest);
    path = isAbsolute(decoded) ? decoded : resolve(cwd, decoded);
  }
  if (path.includes('\0')) throw bad(uri, 'NUL in path');
  return { kind: 'file', path };
}

function parsePkcs11Ref(uri: string, cwd: string): Pkcs11SignerRef {
  const body = uri.slice('pkcs11:'.length);
  if (body.includes('#')) throw bad(uri, 'fragments are not allowed');
  const q = body.indexOf('?');
  const path = parseAttrs(uri, q < 0 ? body : body.slice(0, q), ';', PATH_ATTRS, 'path');
  const query = parseAttrs(uri, q < 0 ? '' : body.slice(q + 1), '&', QUERY_ATTRS, 'query');
  const get = (m: Map<string, string>, k: string) => (m.has(k) ? pctDecode(uri, m.get(k)!) : undefined);
  const token = get(path, 'token');
  if (!token) throw bad(uri, 'token=<label> is required');
  const object = get(path, 'object');
  const id = path.has('id') ? pctBytes(uri, path.get('id')!) : undefined;
  if (object === undefined && id === undefined) throw bad(uri, 'object=<label> or id=<bytes> is required');
  if (id !== undefined && id.length === 0) throw bad(uri, 'id is empty');
  const type = get(path, 'type');
  if (type !== undefined && type !== 'private') throw bad(uri, `type=${type}: a signer needs type=private`);
  const modulePath = get(query, 'module-path');
  if (!modulePath) throw bad(uri, 'module-path=<absolute path of the PKCS#11 library> is required');
  if (!isAbsolute(modulePath)) throw bad(uri, 'module-path must be absolute');
  const pinSource = get(query, 'pin-source');
  const pinValue = get(query, 'pin-value');
  if (pinSource !== undefined && pinValue !== undefined) throw bad(uri, 'give pin-source or pin-value, not both');
  let pin: Pkcs11SignerRef['pin'];
  if (pinSource !== undefined) {
    // RFC 7512 §2.4 leaves pin-source's form open; we accept a file: URI (absolute or relative to cwd).
    if (!pinSource.startsWith('file:')) throw bad(uri, 'pin-source must be a file: URI');
    pin = { source: 'file', path: parseFileRef(pinSource, cwd).path };
  } else if (pinValue !== undefined) pin = { source: 'value', value: pinValue };
  const serial = get(path, 'serial');
  return {
    kind: 'pkcs11',
    token,
    modulePath,
    ...(object !== undefined ? { object } : {}),
    ...(id ? { id } : {}),
    ...(serial ? { serial } : {}),
    ...(pin ? { pin } : {}),
  };
}

/**
 * Parses a signer URI: `file:/abs/key.pem`, `file:rel/key.pem` (relative to `cwd`),
 * `file:///abs/key.pem`, or an RFC 7512 `pkcs11:token=…;object=…?module-path=…&pin-source=file:…`.
 * Throws SIGNER_URI_INVALID (with any pin-value redacted) on anything else.
 */
export function parseSignerUri(uri: string, cwd: string = process.cwd()): SignerRef {
  if (uri.startsWith('file:')) return parseFileRef(uri, cwd);
  if (uri.startsWith('pkcs11:')) return parsePkcs11Ref(uri, cwd);
  throw bad(uri, 'expected a file: or pkcs11: URI');
}
