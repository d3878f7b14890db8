/** Test support for RFC 3161 (openssl-made PKI and an openssl-backed HTTP TSA). Tests only. */
export * from './openssl-tsa.js';
