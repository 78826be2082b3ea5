// Builds everything Node runs from TypeScript sources with esbuild (milliseconds, no type check;
// `npm run typecheck` does that). Entry points that do not exist yet are skipped so the build
// never blocks `npm ci`.
import { build } from 'esbuild';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { buildCli, nodeBundleOptions } from './cli-bundle.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => path.join(root, p);

const nodeEntries = {
  'bench/bench': 'scripts/bench/bench.ts',
};

const entryPoints = Object.fromEntries(
  Object.entries(nodeEntries)
    .filter(([, src]) => existsSync(at(src)))
    .map(([out, src]) => [out, at(src)]),
);

await build({ ...nodeBundleOptions, entryPoints, outdir: at('dist') });

// The `vmdesk` command: a one-file client and the modules it loads lazily (see cli-bundle.mjs).
if (existsSync(at('app/main/cli/bin.ts'))) {
  const cli = await buildCli(root);
  // Chunk names carry a hash of their content: drop what earlier builds left that nothing loads.
  const made = new Set([cli.client, cli.lazy].flatMap((m) => Object.keys(m.outputs).map((f) => path.basename(f))));
  for (const f of readdirSync(at('dist/cli')))
    if (/\.mjs(\.map)?$/.test(f) && !made.has(f)) rmSync(at(`dist/cli/${f}`), { force: true });
}

// The renderer (React) has its own build: browser target, CSS, index.html.
if (existsSync(at('scripts/build-renderer.mjs'))) {
  await import(new URL('./build-renderer.mjs', import.meta.url).href);
}

// The Electron shell (main process + sandboxed preload) into dist/shell/.
if (existsSync(at('scripts/build-shell.mjs'))) {
  await import(new URL('./build-shell.mjs', import.meta.url).href);
}
