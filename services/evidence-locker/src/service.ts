/**
 * The evidence-locker service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Its routes and workers arrive with the service's own issue.
 */
import { fileURLToPath } from 'node:url';
import { defineService } from '@stella/platform/service';

export const evidenceLockerService = defineService({
  name: 'evidence-locker',
  summary: 'Seals, signs, timestamps and holds evidence bundles; exports portable bundles',
  // One level above src/ and dist/ alike: the package's migrations folder.
  migrations: { name: 'evidence-locker', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
});
