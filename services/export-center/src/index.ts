export { exportCenterService } from './service.js';
