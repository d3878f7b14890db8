/**
 * Canonical JSON in two dialects, named in each function: RFC 8785 JCS (`…Jcs`) for everything
 * the project hashes or signs, OLPC (`…Olpc`) where TUF 1.0 requires it; plus a strict I-JSON
 * parser for hostile input. See docs/formats/canonical-json.md.
 */
export {
  MAX_JSON_DEPTH,
  canonicalizeJcs,
  canonicalJcsBytes,
  assertJsonValue,
  hasLoneSurrogate,
  type JsonValue,
} from './jcs.js';
export { canonicalizeOlpc, canonicalOlpcBytes } from './olpc.js';
export { parseJson, type ParseJsonOptions } from './parse-json.js';
