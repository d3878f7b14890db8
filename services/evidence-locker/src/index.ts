export { evidenceLockerService } from './service.js';
export { verifyBundle, type VerifyCheck, type VerifyOptions, type VerifyReport } from './bundle/verify.js';
export { sweepEvidence, type SweepReport } from './sweeper/evidence-sweeper.js';
export { claimStoredObjects, removeUnreferenced } from './objects/object-claims.js';
