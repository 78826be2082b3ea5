// Builds the renderer (the same page for the Electron window and `vmdesk web`) into
// dist/renderer/: index.html, icon.svg, app.js (ESM: noVNC 1.7 uses top-level await), app.css.
// No inline scripts: `vmdesk web` serves the page with CSP `script-src 'self'`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/renderer');
const dev = process.argv.includes('--dev');

mkdirSync(outdir, { recursive: true });
await build({
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
  define: { 'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production') },
  logLevel: 'warning',
});
for (const f of ['index.html', 'icon.svg']) copyFileSync(path.join(root, 'app/renderer', f), path.join(outdir, f));
