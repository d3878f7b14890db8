export { evidenceLockerService } from './service.js';
export { verifyBundle, type VerifyCheck, type VerifyOptions, type VerifyReport } from './bundle/verify.js';
export { sweepEvidence, type SweepReport } from './sweeper/evidence-sweeper.js';
export { claimStoredObjects, removeUnreferenced } from './objects/object-claims.js';
export { recordCustody, CUSTODY_ACTIONS, type CustodyAction, type CustodyRecord } from './custody.js';
export { purgeTenant, type PurgeContext, type PurgeResult, type PurgeStage } from './retention/purge.js';
export { purgeAll } from './retention/worker.js';
export { systemTransaction } from './system-tx.js';
