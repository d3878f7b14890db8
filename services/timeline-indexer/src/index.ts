export { timelineIndexerService } from './service.js';
