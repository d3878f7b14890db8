/**
 * Issue 19, finding 1: the signer must be the end entity of the validated path, every issuer a CA
 * allowed to sign certificates, and pathLenConstraint must hold. Every certificate and token here
 * is made by the openssl CLI (`req`, `x509`, `ts -reply`), and for each token openssl's own
 * verdict (`openssl ts -verify`) is asserted beside ours.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needTool, tempDir } from '@stella/testkit';
import { isStellaError } from '../errors/index.js';
import { verifyTimeStampToken } from './index.js';

const skip = needTool('openssl');

const EXTENSIONS = `[ req ]
distinguished_name = dn
[ dn ]
[ ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca_pathlen0 ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca_no_certsign ]
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, cRLSign
subjectKeyIdentifier = hash
[ leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyCertSign
subjectKeyIdentifier = hash
[ no_basic_constraints ]
subjectKeyIdentifier = hash
[ tsa ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
`;

describe('rfc3161 chain: the signer is the end entity, issuers are CAs (openssl-built forgeries)', { skip }, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let dir: string;
  const data = new TextEncoder().encode('{"evidence":"sealed"}\n');

  function ossl(args: string[]): string {
    const r = spawnSync('openssl', args, { cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout.toString();
  }

  /** A self-signed certificate `<name>.crt` / `<name>.key` with extension section `ext`. */
  function selfSigned(name: string, subject: string, ext: string): void {
    ossl([
      'req',
      '-x509',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      subject,
      '-config',
      'ext.cnf',
      '-extensions',
      ext,
    ]);
  }

  /** `<name>.crt` issued by `<issuer>.crt` with extension section `ext` (serial: hex of `serialOf`). */
  function issued(name: string, subject: string, issuer: string, ext: string, serialOf = name): void {
    ossl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
      '-config',
      'ext.cnf',
    ]);
    ossl([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.crt`,
      '-CAkey',
      `${issuer}.key`,
      '-set_serial',
      `0x${Buffer.from(serialOf).toString('hex')}`,
      '-out',
      `${name}.crt`,
      '-days',
      '825',
      '-extfile',
      'ext.cnf',
      '-extensions',
      ext,
    ]);
  }

  /**
   * `openssl ts -reply` signed by `<signer>.crt`, with `extraCerts` as the token's further
   * certificates (the TSA config's `certs`), over SHA-256(data). Returns the .tsr file name.
   */
  function reply(name: string, signer: string, extraCerts: string[]): string {
    const bundle = `${name}-certs.pem`;
    writeFileSync(join(dir, bundle), extraCerts.map((c) => readFileSync(join(dir, `${c}.crt`), 'utf8')).join(''));
    writeFileSync(join(dir, `${name}.serial`), '01\n');
    writeFileSync(
      join(dir, `${name}.cnf`),
      `[ tsa ]
default_tsa = t
[ t ]
serial = ${name}.serial
signer_cert = ${signer}.crt
certs = ${bundle}
signer_key = ${signer}.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
ess_cert_id_alg = sha256
`,
    );
    ossl(['ts', '-query', '-data', 'data.bin', '-sha256', '-cert', '-out', `${name}.tsq`]);
    ossl(['ts', '-reply', '-config', `${name}.cnf`, '-queryfile', `${name}.tsq`, '-out', `${name}.tsr`]);
    return `${name}.tsr`;
  }

  function opensslAccepts(tsr: string, root: string): boolean {
    const r = spawnSync('openssl', ['ts', '-verify', '-data', 'data.bin', '-in', tsr, '-CAfile', `${root}.crt`], {
      cwd: dir,
    });
    return r.status === 0 && /Verification: OK/.test(r.stdout.toString());
  }

  function ours(tsr: string, root: string) {
    return verifyTimeStampToken(new Uint8Array(readFileSync(join(dir, tsr))), {
      data,
      trustedCerts: [readFileSync(join(dir, `${root}.crt`), 'utf8')],
    });
  }

  async function refusedByBoth(tsr: string, root: string, reason: RegExp): Promise<void> {
    assert.equal(opensslAccepts(tsr, root), false, `openssl ts -verify accepted ${tsr}`);
    await assert.rejects(ours(tsr, root), (err: unknown) => {
      assert.ok(isStellaError(err, 'TIMESTAMP_INVALID'), `expected TIMESTAMP_INVALID, got ${String(err)}`);
      assert.equal((err.details as { check: string }).check, 'chain', err.message);
      assert.match(err.message, reason);
      return true;
    });
  }

  before(async () => {
    tmp = await tempDir('stella-tsa-chain-');
    dir = tmp.path;
    writeFileSync(join(dir, 'ext.cnf'), EXTENSIONS);
    writeFileSync(join(dir, 'data.bin'), data);
    selfSigned('root', '/CN=Chain Root', 'ca');
    issued('tsa', '/O=Stella Test/CN=Real TSA', 'root', 'tsa');
  });
  after(async () => tmp?.cleanup());

  test('a good token: root → TSA, and root → intermediate → TSA, accepted by both', async () => {
    const good = reply('good', 'tsa', []);
    assert.equal(opensslAccepts(good, 'root'), true);
    const v = await ours(good, 'root');
    assert.deepEqual(v.chain, ['O=Stella Test, CN=Real TSA', 'CN=Chain Root']);
    // a rogue certificate with the root's name in the token neither passes nor blocks the path
    selfSigned('rogue', '/CN=Chain Root', 'ca');
    const withRogue = reply('rogue', 'tsa', ['rogue']);
    assert.equal(opensslAccepts(withRogue, 'root'), true);
    assert.deepEqual((await ours(withRogue, 'root')).chain, v.chain);
    assert.equal(opensslAccepts(withRogue, 'rogue'), false);
    await assert.rejects(ours(withRogue, 'rogue'), (e) => isStellaError(e, 'TIMESTAMP_INVALID'));

    issued('inter', '/CN=Chain Intermediate', 'root', 'ca');
    issued('tsa2', '/O=Stella Test/CN=Second TSA', 'inter', 'tsa');
    const deep = reply('deep', 'tsa2', ['inter']);
    assert.equal(opensslAccepts(deep, 'root'), true);
    assert.deepEqual((await ours(deep, 'root')).chain, [
      'O=Stella Test, CN=Second TSA',
      'CN=Chain Intermediate',
      'CN=Chain Root',
    ]);
  });

  test("(a) an attacker's self-signed TSA certificate with the real TSA's name, real certificate appended", async () => {
    selfSigned('attacker', '/O=Stella Test/CN=Real TSA', 'tsa');
    const forged = reply('forged', 'attacker', ['tsa', 'root']);
    await refusedByBoth(forged, 'root', /not signed by|no certificate for issuer/);
  });

  test('(a2) a same-name rogue CA issuing a TSA certificate (what held before: keep it holding)', async () => {
    selfSigned('rogue-ca', '/CN=Chain Root', 'ca');
    issued('tsa-rogue', '/O=Stella Test/CN=Real TSA', 'rogue-ca', 'tsa');
    await refusedByBoth(reply('rogue-ca', 'tsa-rogue', ['rogue-ca']), 'root', /not signed by/);
  });

  test('two different certificates answering to the signer id are refused (signer-certificate)', async () => {
    // same issuer and serial as the real TSA certificate, another key
    issued('tsa-twin', '/O=Stella Test/CN=Twin TSA', 'root', 'tsa', 'tsa');
    const token = reply('twin', 'tsa', ['tsa-twin']);
    await assert.rejects(ours(token, 'root'), (err: unknown) => {
      assert.ok(isStellaError(err, 'TIMESTAMP_INVALID'), String(err));
      assert.equal((err.details as { check: string }).check, 'signer-certificate', err.message);
      return true;
    });
  });

  test('(b) a TSA certificate issued by a CA:FALSE leaf', async () => {
    issued('leaf', '/CN=Some Leaf', 'root', 'leaf');
    issued('tsa-b', '/O=Stella Test/CN=Leaf-issued TSA', 'leaf', 'tsa');
    await refusedByBoth(reply('b', 'tsa-b', ['leaf']), 'root', /is not a CA/);
  });

  test('(c) a TSA certificate issued by a CA without keyCertSign', async () => {
    issued('nocertsign', '/CN=CA Without keyCertSign', 'root', 'ca_no_certsign');
    issued('tsa-c', '/O=Stella Test/CN=TSA c', 'nocertsign', 'tsa');
    await refusedByBoth(reply('c', 'tsa-c', ['nocertsign']), 'root', /keyCertSign/);
  });

  test('(d) a TSA certificate issued by an issuer without basicConstraints', async () => {
    issued('nobc', '/CN=Issuer Without basicConstraints', 'root', 'no_basic_constraints');
    issued('tsa-d', '/O=Stella Test/CN=TSA d', 'nobc', 'tsa');
    await refusedByBoth(reply('d', 'tsa-d', ['nobc']), 'root', /no basicConstraints/);
  });

  test('(e) pathLen breach: root pathlen:0 → intermediate → TSA', async () => {
    selfSigned('root0', '/CN=Root pathlen 0', 'ca_pathlen0');
    issued('inter0', '/CN=Intermediate under pathlen 0', 'root0', 'ca');
    issued('tsa-e', '/O=Stella Test/CN=TSA e', 'inter0', 'tsa');
    await refusedByBoth(reply('e', 'tsa-e', ['inter0']), 'root0', /pathLenConstraint 0 exceeded/);
    // the same root directly above a TSA is within its constraint
    issued('tsa-e0', '/O=Stella Test/CN=TSA e0', 'root0', 'tsa');
    const ok = reply('e0', 'tsa-e0', []);
    assert.equal(opensslAccepts(ok, 'root0'), true);
    await ours(ok, 'root0');
  });
});
