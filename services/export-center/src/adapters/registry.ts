/**
 * The one list of export adapters. Adding an adapter = one module plus one line here; the planner,
 * the run worker and the bundle writer find it through `getAdapter` and never name it.
 */
import { unknownAdapter, type ExportAdapter } from './adapter.js';
import { jsonPolicyAdapter } from './json-policy.js';
import { jsonRawAdapter } from './json-raw.js';
import { mirrorFullAdapter } from './mirror-full.js';
import { trivyJavaDbAdapter } from './trivy/java-db.js';
import { trivyDbAdapter } from './trivy/trivy-db.js';

export const ADAPTERS: readonly ExportAdapter[] = [
  jsonRawAdapter,
  jsonPolicyAdapter,
  mirrorFullAdapter,
  trivyDbAdapter,
  trivyJavaDbAdapter,
];

const byId = new Map(ADAPTERS.map((a) => [a.id, a]));
if (byId.size !== ADAPTERS.length) throw new Error('two export adapters share an id');

/** Ids of the registered adapters, sorted. */
export function adapterIds(): string[] {
  return [...byId.keys()].sort();
}

/** The adapter named `id`; EXPORT_ADAPTER_UNKNOWN (400) for anything else. */
export function getAdapter(id: string): ExportAdapter {
  const adapter = typeof id === 'string' ? byId.get(id) : undefined;
  if (!adapter) throw unknownAdapter(id, byId.keys());
  return adapter;
}
