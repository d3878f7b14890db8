export { SERVICES, migrationSets, selectServices } from '../service-registry.js';
