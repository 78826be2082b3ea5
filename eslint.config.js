// Layer boundaries (ARCHITECTURE.md): only app/main/shell imports electron; app/main/common is
// plain TS shared with the renderer and the CLI; the renderer imports no node module; and each
// folder imports only from the layers below it (eslint-plugin-boundaries, LAYERS below).
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'net',
  'child_process',
  'crypto',
  'stream',
  'events',
  'url',
  'util',
  'http',
  'https',
  'tls',
  'dgram',
  'worker_threads',
  'readline',
];
const nodeModulePatterns = ['node:*', ...nodeBuiltins, ...nodeBuiltins.map((m) => `${m}/*`)];

/**
 * The folders' layers, lowest first (ARCHITECTURE.md): a folder imports from every layer below
 * its own, and from its own layer's folders only where SIDEWAYS says so. The renderer imports
 * only common, type-only except RENDERER_VALUES_FROM_COMMON. Tests (*.test.ts, testing/ and
 * fixtures/ folders, e2e/) and tools (scripts/) may import anything; nothing else may import them.
 */
const LAYERS = [
  ['common'],
  ['paths', 'native'],
  ['host', 'qemu', 'iso', 'mdev', 'consoles', 'libvirt'],
  ['vm'],
  ['ipc'],
  ['cli', 'shell'],
];
/** Imports within a layer: host is the host facts every backend reads (its I/O doors, memlock,
 * the probe); qemu's argv builder includes the vGPU arguments that mdev/argv.ts builds; a libvirt
 * domain's consoles are the same serial hub and VNC proxy as a local VM's. */
const SIDEWAYS = { mdev: ['host'], qemu: ['host', 'mdev'], libvirt: ['consoles'] };
const FOLDERS = {
  common: 'app/main/common',
  paths: 'app/main/paths',
  native: 'app/native',
  host: 'app/main/host',
  qemu: 'app/main/qemu',
  iso: 'app/main/iso',
  mdev: 'app/main/mdev',
  consoles: 'app/main/consoles',
  libvirt: 'app/main/libvirt',
  vm: 'app/main/vm',
  ipc: 'app/main/ipc',
  cli: 'app/main/cli',
  shell: 'app/main/shell',
  renderer: 'app/renderer',
  'test-support': 'app/main/testing',
  e2e: 'e2e',
  scripts: 'scripts',
};
/** The common modules the renderer may take values from (the rest it imports type-only). */
const RENDERER_VALUES_FROM_COMMON = [
  'app/main/common/api.ts',
  'app/main/common/connection-types.ts',
  'app/main/common/devices.ts',
  'app/main/common/errors.ts',
  'app/main/common/forwards.ts',
  'app/main/common/names.ts',
  'app/main/common/settings-types.ts',
];
const below = (layer) => LAYERS.slice(0, layer).flat();
const layerPolicies = LAYERS.flatMap((folders, layer) =>
  folders.map((type) => ({
    from: { element: { type } },
    allow: { to: { element: { types: [type, ...(SIDEWAYS[type] ?? []), ...below(layer)] } } },
  })),
);

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**', 'test-results/**', 'artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Prettier wraps code at 120; what it cannot wrap (comments) is held to the same width here.
      // Strings stay whole: a message split across lines cannot be found with grep.
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
    },
  },
  {
    files: ['app/**/*.ts', 'app/**/*.tsx', 'e2e/**/*.ts', 'scripts/**/*.ts'],
    ignores: ['app/main/shell/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'Only app/main/shell may import electron (ARCHITECTURE.md).' }] },
      ],
    },
  },
  {
    files: ['app/**/*.ts', 'app/**/*.tsx', 'e2e/**/*.ts', 'scripts/**/*.ts', 'scripts/**/*.mjs'],
    plugins: { boundaries },
    settings: {
      // eslint-import-resolver-typescript: maps our `./x.js` specifiers to the `.ts` files.
      'import/resolver': {
        typescript: { project: ['tsconfig.json', 'tsconfig.renderer.json'], noWarnOnMultipleProjects: true },
      },
      'boundaries/elements': Object.entries(FOLDERS).map(([type, pattern]) => ({ type, pattern, partialMatch: false })),
      'boundaries/files': [
        { category: 'test', pattern: ['**/*.test.ts', '**/*.test.tsx', '**/testing/**', '**/fixtures/**', 'e2e/**'] },
        { category: 'tool', pattern: ['scripts/**'] },
      ],
      // Re-exports and import() are dependencies too.
      'boundaries/dependency-nodes': ['import', 'export', 'dynamic-import'],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          checkUnknownLocals: true,
          message:
            'A {{from.element.type}} file may not import this from {{to.element.type}}: eslint.config.js (LAYERS, SIDEWAYS, RENDERER_VALUES_FROM_COMMON) and ARCHITECTURE.md say who imports what.',
          // The last policy that matches decides.
          policies: [
            ...layerPolicies,
            // The renderer: itself, common's types, and common's few plain values (no valibot in the page).
            { from: { element: { type: 'renderer' } }, allow: { to: { element: { type: 'renderer' } } } },
            {
              from: { element: { type: 'renderer' } },
              allow: { to: { element: { type: 'common' } }, dependency: { kind: 'type' } },
            },
            { from: { element: { type: 'renderer' } }, allow: { to: { file: { path: RENDERER_VALUES_FROM_COMMON } } } },
            {
              disallow: { to: { file: { categories: ['test', 'tool'] } } },
              message: 'Only tests may import test helpers, fixtures, e2e/ or scripts/ ({{to.file.path}}).',
            },
            { from: { file: { categories: ['test', 'tool'] } }, allow: { to: { file: { path: '**' } } } },
          ],
        },
      ],
    },
  },
  {
    files: ['app/main/common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'app/main/common is plain TS shared with the renderer.' }],
          patterns: [
            {
              group: nodeModulePatterns,
              message: 'app/main/common is plain TS shared with the renderer: no node modules.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['app/renderer/**/*.ts', 'app/renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'The renderer talks to the main process only through window.vmdesk.' }],
          patterns: [
            { group: nodeModulePatterns, message: 'The renderer runs in a sandboxed page: no node modules.' },
            {
              group: ['**/main/*', '!**/main/common', '!**/main/common/*'],
              message: 'The renderer may import only app/main/common.',
            },
          ],
        },
      ],
    },
  },
);
