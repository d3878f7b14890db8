export { evidenceLockerService } from './service.js';
export { verifyBundle, type VerifyCheck, type VerifyOptions, type VerifyReport } from './bundle/verify.js';
