// Lint rules, including the mechanical dependency direction of DESIGN.md §2:
//   core ← platform ← services ← server ← cli;  testkit only in tests;  core has no I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const services = ['@stella/evidence-locker', '@stella/export-center', '@stella/timeline-indexer'];
const forbid = (names, message) => names.map((name) => ({ name, message }));
const forbidPatterns = (group, message) => ({ group, message });
const ioModules = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'child_process',
  'dgram',
  'dns',
  'tls',
  'worker_threads',
  'cluster',
];
const noTestkit = forbid(['@stella/testkit'], 'testkit is for tests only');
// Contract suites, oracles and test helpers live in `testing/` folders (and `*-testing.ts`):
// tests import them, production code never does (issue #6 item 5).
const noTesting = { regex: '(^|/)testing(/|$)|-testing(\\.js)?$', message: 'test support is for tests only' };
const testFiles = ['**/*.test.ts', '**/testing/**', '**/*-testing.ts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.stella/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        fetch: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
        crypto: 'readonly',
        Response: 'readonly',
        Request: 'readonly',
        Headers: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // Only configuration modules, tests, tooling and testkit read the environment (DESIGN.md §6).
  {
    files: ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts', 'server/src/**/*.ts', 'cli/src/**/*.ts'],
    // cli/src/main.ts is the process boundary: it hands the environment to commands explicitly.
    ignores: ['**/*.test.ts', '**/config/**', '**/testing/**', 'packages/testkit/**', 'cli/src/main.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through the config module.' },
      ],
    },
  },
  {
    files: ['packages/core/src/**/*.ts'],
    ignores: testFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...forbid(
              ['@stella/platform', '@stella/sdk', '@stella/server', '@stella/cli', ...services],
              'core depends on nothing of ours',
            ),
            ...noTestkit,
            ...forbid(
              ioModules.flatMap((m) => [m, `node:${m}`]),
              'core has no I/O (DESIGN.md §2); do I/O in platform',
            ),
          ],
          patterns: [
            forbidPatterns(
              ['@stella/platform/*', '@stella/server/*', '@stella/testkit/*'],
              'core depends on nothing of ours',
            ),
            noTesting,
          ],
        },
      ],
    },
  },
  {
    files: ['packages/platform/src/**/*.ts'],
    ignores: testFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...forbid(['@stella/sdk', '@stella/server', '@stella/cli', ...services], 'platform depends only on core'),
            ...noTestkit,
          ],
          patterns: [
            forbidPatterns(
              [
                '@stella/server/*',
                '@stella/evidence-locker/*',
                '@stella/export-center/*',
                '@stella/timeline-indexer/*',
                '@stella/testkit/*',
              ],
              'platform depends only on core',
            ),
            noTesting,
          ],
        },
      ],
    },
  },
  ...services.map((svc) => ({
    files: [`services/${svc.slice('@stella/'.length)}/src/**/*.ts`],
    ignores: testFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...forbid(
              ['@stella/server', '@stella/cli', '@stella/sdk', ...services.filter((s) => s !== svc)],
              'services never import each other (DESIGN.md §2)',
            ),
            ...noTestkit,
          ],
          patterns: [
            forbidPatterns(
              services.filter((s) => s !== svc).map((s) => `${s}/*`),
              'services never import each other',
            ),
            noTesting,
          ],
        },
      ],
    },
  })),
  {
    files: ['server/src/**/*.ts'],
    ignores: testFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...forbid(['@stella/cli', '@stella/sdk'], 'server is composed, it does not call clients'),
            ...noTestkit,
          ],
          patterns: [noTesting],
        },
      ],
    },
  },
  {
    files: ['cli/src/**/*.ts'],
    ignores: testFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...forbid(services, 'the CLI reaches services through @stella/server or the SDK'), ...noTestkit],
          patterns: [noTesting],
        },
      ],
    },
  },
  {
    files: ['packages/testkit/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [forbidPatterns(['@stella/*'], 'testkit depends on nothing of ours')] },
      ],
    },
  },
);
