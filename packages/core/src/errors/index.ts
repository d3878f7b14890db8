export { ERROR_CODES, type ErrorCode } from './codes.js';
export { StellaError, isStellaError } from './stella-error.js';
