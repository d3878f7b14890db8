// Subpath barrel so `@stella/server/migration-sets` resolves (package exports map `./*` to
// `src/*/index.ts`); the CLI imports only this, not the whole composition root.
export { migrationSets } from '../migration-sets.js';
