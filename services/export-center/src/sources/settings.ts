/** The sources store's configuration variables (docs/config.md is generated from them). */
import { ConfigProblem, type ConfigVariable } from '@stella/platform/config';

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const GLOBAL_SOURCE_TENANTS: ConfigVariable<readonly string[]> = {
  name: 'STELLA_EXPORT_GLOBAL_SOURCE_TENANTS',
  audience: 'server',
  type: 'comma-separated tenant ids',
  default: '',
  description:
    'Tenants whose tokens (with scope `export:profile:manage`) may import global advisories (`POST /v1/sources/advisory?global=true`), which every tenant reads. Empty: nobody can.',
  parse: (raw) => {
    const ids = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const bad = ids.find((s) => !TENANT.test(s));
    if (bad !== undefined) throw new ConfigProblem(`"${bad}" is not a tenant id`);
    return ids;
  },
};
