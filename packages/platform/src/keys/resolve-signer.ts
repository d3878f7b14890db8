import { StellaError } from '@stella/core/errors';
import type { Signer } from '@stella/core/signing';
import { loadFileSigner } from './file-key-provider.js';
import { openPkcs11Signer } from './pkcs11-provider.js';
import { parseSignerUri } from './signer-uri.js';

/** A signer from {@link resolveSigner}; always `close()` it (HSM sessions hold resources). */
export interface ResolvedSigner extends Signer {
  close(): Promise<void>;
}

/** Options for {@link resolveSigner}. */
export interface ResolveSignerOptions {
  /** Base for relative `file:` paths (default `process.cwd()`). */
  cwd?: string;
  /** Passphrase for an encrypted PKCS#8 file key. */
  passphrase?: string;
}

/**
 * Resolves a signer URI (docs/keys.md): `file:/abs/key.pem` or `file:rel/key.pem` (PEM or JWK
 * private key), or `pkcs11:token=…;object=…?module-path=…&pin-source=file:…`. Errors:
 * SIGNER_URI_INVALID, KEY_NOT_FOUND, KEY_INVALID, PKCS11_ERROR.
 */
export async function resolveSigner(uri: string, options: ResolveSignerOptions = {}): Promise<ResolvedSigner> {
  const ref = parseSignerUri(uri, options.cwd);
  if (ref.kind === 'file') {
    const s = await loadFileSigner(
      ref.path,
      options.passphrase !== undefined ? { passphrase: options.passphrase } : {},
    );
    return {
      keyId: s.keyId,
      algorithm: s.algorithm,
      publicKeySpki: () => s.publicKeySpki(),
      sign: (d) => s.sign(d),
      close: () => Promise.resolve(),
    };
  }
  if (ref.kind === 'pkcs11') return openPkcs11Signer(ref);
  throw new StellaError('SIGNER_URI_INVALID', 'unsupported signer URI');
}
