import { StellaError } from '../errors/index.js';
import { keyIdHint } from '../signing/key-id.js';
import type { Signer } from '../signing/signer.js';
import type { DsseEnvelope } from './dsse-envelope.js';
import { pae } from './pae.js';

/**
 * Signs `payload` as a DSSE v1 envelope with every signer, in the order given. Each signature is
 * over PAE(payloadType, payload); its `keyid` is the bare hex SHA-256 of the signer's SPKI (see
 * `keyIdHint`). With Ed25519 keys the result is fully deterministic.
 */
export async function signEnvelope(
  payload: Uint8Array,
  payloadType: string,
  signers: readonly Signer[],
): Promise<DsseEnvelope> {
  if (payloadType === '') throw new StellaError('VALIDATION_FAILED', 'payloadType must not be empty');
  if (signers.length === 0) throw new StellaError('VALIDATION_FAILED', 'at least one signer is required');
  const message = pae(payloadType, payload);
  const signatures = [];
  for (const signer of signers) {
    signatures.push({ keyid: keyIdHint(signer.keyId), sig: await signer.sign(message) });
  }
  return { payloadType, payload: payload.slice(), signatures };
}
