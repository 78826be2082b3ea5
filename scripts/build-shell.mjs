// Builds the Electron shell into dist/shell/ (or `--outdir DIR`):
// - main.cjs: the main process, everything bundled except electron (provided by the runtime) and
//   koffi (a native module: it stays in node_modules, unpacked from the asar).
// - preload.cjs: the sandboxed preload. A sandboxed preload can require only 'electron', so
//   everything else (the contract, valibot) is bundled in, and it is built for the browser so a
//   stray Node import fails the build instead of the window.
// The preload passes a function to contextBridge.executeInMainWorld, which serializes it: keep
// it unminified and at a target that needs no injected helpers (see app/main/shell/main-world.ts).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--outdir');
const outdir = i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : path.join(root, 'dist/shell');

const common = { bundle: true, format: 'cjs', sourcemap: true, logLevel: 'warning', external: ['electron'] };

await Promise.all([
  build({
    ...common,
    entryPoints: [path.join(root, 'app/main/shell/main.ts')],
    outfile: path.join(outdir, 'main.cjs'),
    platform: 'node',
    // Electron 39 runs Node 22.
    target: 'node22',
    external: ['electron', 'koffi'],
    // A CommonJS file has no import.meta: esbuild would make it {} and every import.meta.url
    // undefined (that broke the mdev helper's path once). import.meta.url is the bundle's own
    // URL here, as it is in the ES module bundles (the driver's, dist/cli/cli-own-driver.mjs): code that needs its
    // place in the sources' layout gets it from its entry point instead (locateHelper). Any
    // other import.meta property fails the build.
    banner: { js: 'const __vmdeskBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__vmdeskBundleUrl' },
    // Not a silenced warning: this raises esbuild's warning to an error, so a bundle with an empty
    // import.meta (the defect build-shell.test.ts guards against) is never written.
    logOverride: { 'empty-import-meta': 'error' },
  }),
  build({
    ...common,
    entryPoints: [path.join(root, 'app/main/shell/preload.ts')],
    outfile: path.join(outdir, 'preload.cjs'),
    platform: 'browser',
    target: 'es2022',
  }),
]);
