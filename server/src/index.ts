export { startRuntime, mintDevToken, openConfiguredStore, type Runtime, type StartRuntimeOptions } from './runtime.js';
export { migrationSets } from './migration-sets.js';
export { servicePlugins } from './service-plugins.js';
