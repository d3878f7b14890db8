/**
 * The HTTP routes each service contributes, by service name. Services register routes through
 * `RoutePlugin`s; the services are still empty shells (their issues come next), so this returns
 * no plugins yet — the list exists so `--services` is honoured the moment one exists.
 */
import type { ServiceName } from '@stella/platform/config';
import type { RoutePlugin } from '@stella/platform/http';

const PLUGINS: Record<ServiceName, () => Promise<readonly RoutePlugin[]>> = {
  'evidence-locker': async () => [],
  'export-center': async () => [],
  'timeline-indexer': async () => [],
};

/** Route plugins of the enabled services, in a stable order. */
export async function servicePlugins(services: readonly ServiceName[]): Promise<RoutePlugin[]> {
  const out: RoutePlugin[] = [];
  for (const s of [...services].sort()) out.push(...(await PLUGINS[s]()));
  return out;
}
