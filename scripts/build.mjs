// Builds everything Node runs from TypeScript sources with esbuild (milliseconds, no type check;
// `npm run typecheck` does that). Entry points that do not exist yet are skipped so the build
// never blocks `npm ci`.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => path.join(root, p);

const nodeEntries = {
  'cli/vmdesk': 'app/main/cli/bin.ts',
  'bench/bench': 'scripts/bench/bench.ts',
};

const entryPoints = Object.fromEntries(
  Object.entries(nodeEntries)
    .filter(([, src]) => existsSync(at(src)))
    .map(([out, src]) => [out, at(src)]),
);

await build({
  entryPoints,
  outdir: at('dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __vmdeskCreateRequire } from 'node:module'; const require = __vmdeskCreateRequire(import.meta.url);",
  },
});

// The renderer (React) has its own build: browser target, CSS, index.html.
if (existsSync(at('scripts/build-renderer.mjs'))) {
  await import(new URL('./build-renderer.mjs', import.meta.url).href);
}

// The Electron shell (main process + sandboxed preload) into dist/shell/.
if (existsSync(at('scripts/build-shell.mjs'))) {
  await import(new URL('./build-shell.mjs', import.meta.url).href);
}
