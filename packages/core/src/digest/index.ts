/** Digests (`sha256:<hex>`), one-shot and streaming, with constant-time comparison. */
export {
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  type ParsedDigest,
  sha256,
  sha256Hex,
  sha256Digest,
  formatDigest,
  parseDigest,
  isDigest,
  digestEquals,
} from './digest.js';
export { DigestStream, createDigestStream, digestStream, type StreamDigest } from './digest-stream.js';
