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
    // app/native/koffi-native.ts and app/native/libvirt.ts fall back to the bundle's own `require`
    // when import.meta is empty. Known to hide one defect this silence cannot tell apart:
    // mdev/privileged.ts's helper path (issue 20 makes the warning an error and fixes that).
    logOverride: { 'empty-import-meta': 'silent' },
  }),
  build({
    ...common,
    entryPoints: [path.join(root, 'app/main/shell/preload.ts')],
    outfile: path.join(outdir, 'preload.cjs'),
    platform: 'browser',
    target: 'es2022',
  }),
]);
