/**
 * The timeline-indexer service module (issue #6: one `ServiceModule` per service, read by `stella
 * serve`, `stella migrate`, the docs generator and the tests through the registry in `server/`).
 * Its routes and workers arrive with the service's own issue.
 */
import { fileURLToPath } from 'node:url';
import { defineService } from '@stella/platform/service';

export const timelineIndexerService = defineService({
  name: 'timeline-indexer',
  summary: 'Indexes platform events into a tenant-isolated timeline linked to evidence',
  // One level above src/ and dist/ alike: the package's migrations folder.
  migrations: { name: 'timeline-indexer', dir: fileURLToPath(new URL('../migrations', import.meta.url)) },
});
