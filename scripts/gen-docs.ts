/**
 * Generates the committed reference docs from their single sources (issue #2 items 2 and 6):
 *
 *   docs/openapi.json  ← route schemas of the platform + every registered service (server/src/service-docs.ts)
 *   docs/config.md     ← packages/platform/src/config/config-variables.ts + the services' variables
 *   docs/errors.md     ← packages/core/src/errors/codes.ts
 *
 *   npm run docs               write the files
 *   npm run docs -- --check    exit 1 (listing the stale files) if any committed file differs;
 *                              CI and packages/platform/src/http/docs-sync.test.ts run this
 */
import { readFile, writeFile, rename } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderErrorsMarkdown, stableOpenApiJson } from '@stella/platform/http';
import { serviceConfigMarkdown, serviceOpenApiDocument } from '@stella/server';
import * as prettier from 'prettier';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  // Markdown goes through the repository's prettier config so `npm run format:check` agrees with
  // the generator (docs/openapi.json is prettier-ignored: its stable form is our own).
  const md = async (rel: string, text: string) =>
    prettier.format(text, { ...(await prettier.resolveConfig(join(root, rel))), filepath: join(root, rel) });
  const files: Record<string, string> = {
    'docs/openapi.json': stableOpenApiJson(await serviceOpenApiDocument(pkg.version)),
    'docs/config.md': await md('docs/config.md', serviceConfigMarkdown()),
    'docs/errors.md': await md('docs/errors.md', renderErrorsMarkdown()),
  };
  const stale: string[] = [];
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current === text) continue;
    stale.push(rel);
    if (!check) {
      const tmp = `${path}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, path);
    }
  }
  if (check) {
    if (stale.length) {
      console.error(`generated docs are out of date: ${stale.join(', ')}\nrun \`npm run docs\` and commit the result`);
      return 1;
    }
    console.error('generated docs are up to date');
    return 0;
  }
  console.error(
    stale.length ? `wrote ${stale.map((s) => relative(root, join(root, s))).join(', ')}` : 'docs already up to date',
  );
  return 0;
}

process.exitCode = await main();
