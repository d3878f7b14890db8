/**
 * @stella/core — formats and crypto with no I/O. Import modules by subpath
 * (`@stella/core/merkle`, `@stella/core/dsse`, …); this root re-exports only the error types.
 */
export { ERROR_CODES, StellaError, isStellaError, type ErrorCode } from './errors/index.js';
