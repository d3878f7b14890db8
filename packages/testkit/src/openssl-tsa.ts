/**
 * A throwaway RFC 3161 PKI made with the openssl CLI, for tests that must check our timestamp
 * code against a TSA we did not write (DESIGN.md §5 "Independent verifiers"): a CA and a TSA
 * certificate with `extendedKeyUsage = critical, timeStamping` (RFC 3161 §2.3; the spec's
 * tsa.cnf), `openssl ts -reply` for single requests, and the spec's "loopback HTTP TSA wrapper"
 * (an RFC 3161 HTTP front on 127.0.0.1 that pipes each request through `openssl ts -reply`).
 *
 * Only node and the `openssl` tool: guard suites with `needTool('openssl')`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { run } from './run-command.js';

/** Paths of an openssl-made TSA PKI (all inside `dir`). */
export interface OpensslTsaPki {
  dir: string;
  /** The openssl config holding the `[ tsa ]` section `openssl ts -reply` reads. */
  config: string;
  caKey: string;
  caCert: string;
  tsaKey: string;
  tsaCert: string;
}

/** Options of {@link makeOpensslTsaPki}. */
export interface OpensslTsaPkiOptions {
  /** TSA key: ECDSA P-256 (default) or RSA-2048. The CA key is always P-256. */
  keyType?: 'ec' | 'rsa';
  /** Sub-directory and CN part, so one directory can hold several unrelated PKIs. Default `tsa`. */
  name?: string;
  /** Mark the timeStamping EKU critical, as RFC 3161 §2.3 requires (default true). */
  ekuCritical?: boolean;
}

async function openssl(args: string[], cwd?: string): Promise<Buffer> {
  const r = await run('openssl', args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr.toString('utf8')}`);
  return r.stdout;
}

const tsaConfig = (dir: string, eku: string) => `[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = ${dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
clock_precision_digits = 0
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_tsa ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = ${eku}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

/** Create `<dir>/<name>/{ca,tsa}.{key,crt}` and `tsa.cnf` (policy `1.2.3.4.1`, SHA-256 signer). */
export async function makeOpensslTsaPki(dir: string, opts: OpensslTsaPkiOptions = {}): Promise<OpensslTsaPki> {
  const n = opts.name ?? 'tsa';
  const base = join(dir, n);
  await mkdir(base, { recursive: true });
  const config = join(base, 'tsa.cnf');
  await writeFile(config, tsaConfig(base, opts.ekuCritical === false ? 'timeStamping' : 'critical, timeStamping'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const keyArgs = opts.keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ec;
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      ...ec,
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '3650',
      '-subj',
      `/CN=Test ${n} Root`,
      '-config',
      config,
      '-extensions',
      'v3_ca',
    ],
    base,
  );
  await openssl(
    [
      'req',
      '-new',
      ...keyArgs,
      '-nodes',
      '-keyout',
      'tsa.key',
      '-out',
      'tsa.csr',
      '-subj',
      `/O=Stella Test/CN=Test ${n}`,
      '-config',
      config,
    ],
    base,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'tsa.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'tsa.crt',
      '-days',
      '825',
      '-extfile',
      config,
      '-extensions',
      'v3_tsa',
    ],
    base,
  );
  await writeFile(join(base, 'tsaserial'), '01\n');
  return {
    dir: base,
    config,
    caKey: join(base, 'ca.key'),
    caCert: join(base, 'ca.crt'),
    tsaKey: join(base, 'tsa.key'),
    tsaCert: join(base, 'tsa.crt'),
  };
}

/** Run `openssl ts -reply` for one DER TimeStampReq; returns the DER TimeStampResp. */
export async function opensslReply(pki: OpensslTsaPki, requestDer: Uint8Array, extra: string[] = []): Promise<Buffer> {
  const id = randomBytes(6).toString('hex');
  const q = join(pki.dir, `q-${id}.tsq`);
  const r = join(pki.dir, `r-${id}.tsr`);
  await writeFile(q, requestDer);
  try {
    await openssl(['ts', '-reply', '-config', pki.config, '-queryfile', q, '-out', r, ...extra], pki.dir);
    return await readFile(r);
  } finally {
    await rm(q, { force: true });
    await rm(r, { force: true });
  }
}

/**
 * A DER TimeStampResp over SHA-256(`data`), request and reply both made by openssl
 * (`ts -query -cert`, so the TSA certificate is in the token).
 */
export async function opensslTimestamp(pki: OpensslTsaPki, data: Uint8Array): Promise<Buffer> {
  const digest = createHash('sha256').update(data).digest('hex');
  const query = await openssl(['ts', '-query', '-digest', digest, '-sha256', '-cert'], pki.dir);
  return opensslReply(pki, query);
}

/** A running {@link startOpensslTsaHttp} front. */
export interface OpensslTsaHttp {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** Requests answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

/**
 * An RFC 3161 HTTP front (RFC 3161 §3.4: POST `application/timestamp-query`) that pipes each
 * request through `openssl ts -reply`. Listens on 127.0.0.1, on a port the OS picks.
 */
export async function startOpensslTsaHttp(pki: OpensslTsaPki): Promise<OpensslTsaHttp> {
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      opensslReply(pki, Buffer.concat(chunks)).then(
        (der) => {
          res.writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': der.byteLength });
          res.end(der);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(err.message);
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `openssl ts -verify …` → exit code and combined stdout + stderr. Never throws on failure. */
export async function opensslVerify(args: string[], cwd?: string): Promise<{ code: number; output: string }> {
  const r = await run('openssl', ['ts', '-verify', ...args], { cwd });
  return { code: r.code ?? 1, output: r.stdout.toString('utf8') + r.stderr.toString('utf8') };
}
