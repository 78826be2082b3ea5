// Builds the renderer (the same page for the Electron window and `vmdesk web`) into
// dist/renderer/ (or `--outdir DIR`): index.html, icon.svg, app.js (ESM: noVNC 1.7 uses
// top-level await), app.css. No inline scripts: `vmdesk web` serves the page with CSP
// `script-src 'self'`.
// - `--demo`: the page with the in-memory fake backend (app/renderer/dev/, page URL `#demo`),
//   into dist/renderer-demo/, for screenshots and UI checks (scripts/renderer-dev/). Without it
//   `__VMDESK_DEMO__` is false, esbuild drops the demo branch of api/index.ts and every module
//   only that branch imports, so the production bundle carries no fake (build-renderer.test.ts).
// - `--dev`: unminified, NODE_ENV=development.
// - `--metafile FILE`: esbuild's metafile (which inputs ended up in which output), for tests.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const flag = (name) => process.argv.includes(name);
const option = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : undefined;
};
const demo = flag('--demo');
const dev = flag('--dev');
const outdir = option('--outdir') ?? path.join(root, demo ? 'dist/renderer-demo' : 'dist/renderer');
const metafile = option('--metafile');

/**
 * The fake backend's modules do nothing production needs at load time either (a top-level
 * `new TextEncoder()` is enough for esbuild to keep a module), so in the production build they
 * are declared free of side effects and go whole with the demo branch.
 */
const fakeBackendIsPure = {
  name: 'fake-backend-is-pure',
  setup(b) {
    const devDir = path.join(root, 'app/renderer/dev') + path.sep;
    b.onResolve({ filter: /\/dev\/[^/]+$/ }, async (args) => {
      if (args.pluginData === 'fake-backend-is-pure') return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'fake-backend-is-pure',
      });
      return r.path.startsWith(devDir) ? { ...r, sideEffects: false } : r;
    });
  },
};

mkdirSync(outdir, { recursive: true });
const result = await build({
  entryPoints: { app: path.join(root, 'app/renderer/main.tsx') },
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  jsx: 'automatic',
  minify: !dev,
  sourcemap: true,
  legalComments: 'linked',
  metafile: !!metafile,
  plugins: demo ? [] : [fakeBackendIsPure],
  define: {
    'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production'),
    __VMDESK_DEMO__: JSON.stringify(demo),
  },
  logLevel: 'warning',
});
if (metafile) writeFileSync(metafile, JSON.stringify(result.metafile));
for (const f of ['index.html', 'icon.svg']) copyFileSync(path.join(root, 'app/renderer', f), path.join(outdir, f));
