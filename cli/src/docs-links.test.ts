// A fresh clone has only this repository: README.md and docs/ must not send readers to files
// outside it or to files that do not exist (issue 7 point 8: README pointed at ../shared/DESIGN.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

const isLocal = (t: string) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#');

test('README.md and docs/ link only to files inside the repository', () => {
  const inside = (abs: string) =>
    abs === root.replace(/\/$/, '') || abs.startsWith(root.endsWith(sep) ? root : root + sep);
  const problems: string[] = [];
  for (const file of [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))]) {
    const text = readFileSync(file, 'utf8');
    const at = (target: string) => `${relative(root, file)}: ${target}`;
    // Links must lead to a file of this repository.
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split('#')[0]!;
      if (!isLocal(m[1]!) || target === '') continue;
      const abs = resolve(dirname(file), target);
      if (!inside(abs)) problems.push(`${at(target)} is outside the repository`);
      else if (!existsSync(abs)) problems.push(`${at(target)} does not exist`);
    }
    // Paths in code spans may be examples (`./.stella`), but none may lead out of the clone.
    for (const m of text.matchAll(/`(\.\.\/[^`\s]*)`/g))
      if (!inside(resolve(dirname(file), m[1]!))) problems.push(`${at(m[1]!)} is outside the repository`);
  }
  assert.deepEqual(problems, []);
});
