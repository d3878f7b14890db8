export { StellaClient, ApiError, type StellaClientOptions, type WhoAmI } from './client.js';
export type { paths, components } from './generated/openapi.js';
