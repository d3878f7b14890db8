export { SCOPES, ROLES, isScope, parseScopeList, type Scope, type Role } from './scopes.js';
export {
  loadDevIssuer,
  loadOrCreateDevIssuer,
  parseTtl,
  DEV_ISSUER_DIR,
  MAX_TOKEN_TTL_SECONDS,
  type DevIssuer,
  type MintOptions,
} from './dev-issuer.js';
export {
  createTokenVerifier,
  createTokenVerifierFromConfig,
  readJwksFile,
  TOKEN_ALGORITHMS,
  type Principal,
  type TokenVerifier,
  type TokenVerifierOptions,
} from './token-verifier.js';
