#!/usr/bin/env node
// The `vmdesk` command. The TypeScript sources are bundled to dist/ by `npm run build`
// (also run by `npm ci` / `npm install` through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// libvirt's event loop keeps one of libuv's worker threads for as long as a libvirt host is
// connected, and each libvirt call holds another while it waits for its host: more than the 4
// threads libuv starts with, so file and DNS work never waits behind a slow host. Read by libuv
// when the pool is first used, which is after this line.
process.env.UV_THREADPOOL_SIZE ??= '16';
const entry = new URL('../dist/cli/vmdesk.mjs', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('vmdesk: the CLI is not built yet. Run `npm run build` in the vmdesk folder, then try again.\n');
  process.exit(2);
}
await import(entry.href);
