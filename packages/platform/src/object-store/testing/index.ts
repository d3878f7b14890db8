export { startMotoServer, motoUnavailable, type MotoServer } from './moto-server.js';
export { objectStoreContract, patternChunks, type ContractTarget } from './object-store-contract.js';
