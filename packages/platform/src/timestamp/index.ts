/**
 * RFC 3161 over HTTP: a client for any TSA and a small built-in TSA server. The ASN.1, signing
 * and verification live in `@stella/core/rfc3161`; this module adds the network.
 */
export { requestTimestamp, type RequestTimestampOptions, type TimestampResult } from './tsa-client.js';
export { createTsaRequestHandler, startTsaServer, type TsaServer, type TsaServerOptions } from './tsa-server.js';
