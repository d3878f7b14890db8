export { evidenceLockerService } from './service.js';
