// Layer boundaries (ARCHITECTURE.md): only app/main/shell imports electron; app/main/common is
// plain TS shared with the renderer and the CLI; the renderer imports no node module.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'path', 'os', 'net', 'child_process', 'crypto', 'stream', 'events', 'url', 'util', 'http', 'https', 'tls', 'dgram', 'worker_threads', 'readline'];
const nodeModulePatterns = ['node:*', ...nodeBuiltins, ...nodeBuiltins.map((m) => `${m}/*`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**', 'test-results/**', 'artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['app/**/*.ts', 'app/**/*.tsx', 'e2e/**/*.ts', 'scripts/**/*.ts'],
    ignores: ['app/main/shell/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'Only app/main/shell may import electron (ARCHITECTURE.md).' }] }],
    },
  },
  {
    files: ['app/main/common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'app/main/common is plain TS shared with the renderer.' }],
        patterns: [{ group: nodeModulePatterns, message: 'app/main/common is plain TS shared with the renderer: no node modules.' }],
      }],
    },
  },
  {
    files: ['app/renderer/**/*.ts', 'app/renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'The renderer talks to the main process only through window.vmdesk.' }],
        patterns: [
          { group: nodeModulePatterns, message: 'The renderer runs in a sandboxed page: no node modules.' },
          { group: ['**/main/*', '!**/main/common', '!**/main/common/*'], message: 'The renderer may import only app/main/common.' },
        ],
      }],
    },
  },
);
