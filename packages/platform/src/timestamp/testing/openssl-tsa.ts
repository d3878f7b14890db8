/**
 * Test support (not used by production code): a throwaway PKI made with the openssl CLI (a CA and
 * a TSA certificate with `extendedKeyUsage = critical, timeStamping`, per the spec's tsa.cnf), and
 * an RFC 3161 HTTP front for `openssl ts -reply` on 127.0.0.1, so our client and verifier are
 * tested against a TSA we did not write.
 */
import { spawn } from 'node:child_process';
import { writeFile, readFile, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Paths of an openssl-made TSA PKI. */
export interface OpensslTsaPki {
  dir: string;
  config: string;
  caKey: string;
  caCert: string;
  tsaKey: string;
  tsaCert: string;
}

function exec(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function openssl(args: string[], cwd: string): Promise<Buffer> {
  const r = await exec('openssl', args, cwd);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * Create `<dir>/{ca,tsa}.{key,crt}` and `tsa.cnf`. `keyType` picks ECDSA P-256 (default) or
 * RSA-2048 for the TSA key; `name` lets one directory hold a second, unrelated CA.
 */
export async function makeOpensslTsaPki(dir: string, opts: { keyType?: 'ec' | 'rsa'; name?: string; ekuCritical?: boolean } = {}): Promise<OpensslTsaPki> {
  const n = opts.name ?? 'tsa';
  const base = join(dir, n);
  await mkdir(base, { recursive: true });
  const eku = opts.ekuCritical === false ? 'timeStamping' : 'critical, timeStamping';
  const config = join(base, 'tsa.cnf');
  await writeFile(
    config,
    `[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = ${base}
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
`,
  );
  const keyArgs = opts.keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', `/CN=Test ${n} Root`, '-config', config, '-extensions', 'v3_ca'], base);
  await openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', 'tsa.key', '-out', 'tsa.csr', '-subj', `/O=Stella Test/CN=Test ${n}`, '-config', config], base);
  await openssl(['x509', '-req', '-in', 'tsa.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tsa.crt', '-days', '825', '-extfile', config, '-extensions', 'v3_tsa'], base);
  await writeFile(join(base, 'tsaserial'), '01\n');
  return { dir: base, config, caKey: join(base, 'ca.key'), caCert: join(base, 'ca.crt'), tsaKey: join(base, 'tsa.key'), tsaCert: join(base, 'tsa.crt') };
}

/** Run `openssl ts -reply` for one DER request; returns the DER TimeStampResp. */
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
 * An RFC 3161 HTTP front (POST application/timestamp-query) that pipes each request through
 * `openssl ts -reply` — the spec's "loopback HTTP TSA wrapper". Listens on 127.0.0.1:0.
 */
export async function startOpensslTsaHttp(pki: OpensslTsaPki): Promise<{ url: string; close: () => Promise<void>; requests: number }> {
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
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
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `openssl ts -verify …` → exit code and combined output. */
export async function opensslVerify(args: string[], cwd?: string): Promise<{ code: number; output: string }> {
  const r = await exec('openssl', ['ts', '-verify', ...args], cwd);
  return { code: r.code, output: r.stdout.toString('utf8') + r.stderr };
}

/** `openssl ts -reply -in <resp> -text` (or `-token_in`) output. */
export async function opensslReplyText(path: string, tokenIn = false): Promise<string> {
  const r = await exec('openssl', ['ts', '-reply', '-in', path, ...(tokenIn ? ['-token_in'] : []), '-text']);
  if (r.code !== 0) throw new Error(`openssl ts -reply -text failed: ${r.stderr}`);
  return r.stdout.toString('utf8');
}
