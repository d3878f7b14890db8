/**
 * The export-center service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Routes: sources (routes/sources.ts; docs/export/sources.md).
 */
import { fileURLToPath } from 'node:url';
import { defineService } from '@stella/platform/service';
import { sourcesRoutes, SOURCES_TAG } from './routes/sources.js';
import { GLOBAL_SOURCE_TENANTS } from './sources/settings.js';

export const exportCenterService = defineService({
  name: 'export-center',
  summary: 'Runs export profiles and distributes signed bundles',
  // One level above src/ and dist/ alike: the package's migrations folder.
  migrations: { name: 'export-center', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
  variables: [GLOBAL_SOURCE_TENANTS],
  openApiTags: [
    { name: SOURCES_TAG, description: 'Advisories, VEX, SBOMs, findings and policy packs that exports read' },
  ],
  routes: (deps) => [sourcesRoutes(deps)],
});
