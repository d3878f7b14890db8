/**
 * Verifying DSSE envelopes with tools this project did not write (DESIGN.md §5 "Independent
 * verifiers"): `openssl pkeyutl -verify -rawin` over PAE bytes built here from the envelope
 * (DSSE protocol.md: "DSSEv1" SP len(type) SP type SP len(body) SP body), and Debian's
 * python3-securesystemslib through packages/core/src/dsse/testdata/verify_dsse.py. Ed25519 keys;
 * the key is an SPKI PEM file (what `openssl pkey -pubout` writes).
 */
import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from './run-command.js';

/** Debian's Python, which has python3-securesystemslib. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** The PAE-adding wrapper around securesystemslib (its 0.26 has no DSSE PAE of its own). */
export const VERIFY_DSSE_PY = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../..',
  'packages/core/src/dsse/testdata/verify_dsse.py',
);

interface EnvelopeJson {
  payloadType: string;
  payload: string;
  signatures: { keyid?: string; sig: string }[];
}

/** PAE(payloadType, payload) of a DSSE envelope file, and its first signature. */
export async function dssePae(envelopePath: string): Promise<{ pae: Buffer; payload: Buffer; sig: Buffer }> {
  const env = JSON.parse(await readFile(envelopePath, 'utf8')) as EnvelopeJson;
  const payload = Buffer.from(env.payload, 'base64');
  const type = Buffer.from(env.payloadType, 'utf8');
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  return { pae, payload, sig: Buffer.from(env.signatures[0]!.sig, 'base64') };
}

/**
 * `openssl pkeyutl -verify -pubin -inkey <pub> -rawin` of the envelope's first signature over its
 * PAE (Ed25519). Writes `<envelope name>.pae` and `.sig` into `workDir`. Exit 0 and "Signature
 * Verified Successfully" when it verifies.
 */
export async function opensslVerifyDsse(
  envelopePath: string,
  publicKeyPath: string,
  workDir: string,
): Promise<RunResult> {
  const { pae, sig } = await dssePae(envelopePath);
  const paeFile = join(workDir, `${basename(envelopePath)}.pae`);
  const sigFile = join(workDir, `${basename(envelopePath)}.sig`);
  await writeFile(paeFile, pae);
  await writeFile(sigFile, sig);
  return run('openssl', [
    'pkeyutl',
    '-verify',
    '-pubin',
    '-inkey',
    publicKeyPath,
    '-rawin',
    '-in',
    paeFile,
    '-sigfile',
    sigFile,
  ]);
}

/**
 * securesystemslib (Debian's /usr/bin/python3) verifying the envelope with an Ed25519 SPKI PEM key;
 * exit 0 and stdout "1/1 valid" when it does.
 */
export async function sslibVerifyDsse(envelopePath: string, publicKeyPath: string): Promise<RunResult> {
  const der = createPublicKey(await readFile(publicKeyPath, 'utf8')).export({ format: 'der', type: 'spki' });
  // Ed25519 SPKI DER is a fixed 12-byte prefix and the 32-byte raw key.
  const raw = Buffer.from(der).subarray(12).toString('hex');
  return run(SYSTEM_PYTHON, [VERIFY_DSSE_PY, envelopePath, `ed25519:${raw}`]);
}
