/**
 * The export-center service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Its routes and workers arrive with the service's own issue.
 */
import { fileURLToPath } from 'node:url';
import { defineService } from '@stella/platform/service';

export const exportCenterService = defineService({
  name: 'export-center',
  summary: 'Runs export profiles and distributes signed bundles',
  // One level above src/ and dist/ alike: the package's migrations folder.
  migrations: { name: 'export-center', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
});
