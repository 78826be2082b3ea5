#!/usr/bin/env node
// The `vmdesk` command. The TypeScript sources are bundled to dist/ by `npm run build`
// (also run by `npm ci` / `npm install` through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/vmdesk.mjs', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('vmdesk: the CLI is not built yet. Run `npm run build` in the vmdesk folder, then try again.\n');
  process.exit(2);
}
await import(entry.href);
