// Deterministic keys for TUF tests only (imported by *.test.ts; not exported from the barrel).
import { createPrivateKey, type KeyObject } from 'node:crypto';

// PKCS#8 DER prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private key from a 32-byte seed (e.g. 32 × 0x01 — the DSSE vector key of the spec). */
export function ed25519FromSeed(byte: number): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, Buffer.alloc(32, byte)]),
    format: 'der',
    type: 'pkcs8',
  });
}
