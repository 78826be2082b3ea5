#!/usr/bin/env node
// The `vmdesk` command. The TypeScript sources are bundled to dist/ by `npm run build`
// (also run by `npm ci` / `npm install` through the `prepare` script).
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// V8's compile cache on disk (Node >= 22.1; Electron 39's Node is 22): from the second run on, the
// CLI's modules load without being compiled again. Node keeps it per user and Node version
// under os.tmpdir() (NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off) and
// never fails a program over it. Older Node has no such function: nothing happens.
module.enableCompileCache?.();

// libvirt's event loop keeps one of libuv's worker threads for as long as a libvirt host is
// connected, and each libvirt call holds another while it waits for its host: more than the 4
// threads libuv starts with, so file and DNS work never waits behind a slow host. Read by libuv
// when the pool is first used: after this line on Node 22, which reads this file synchronously;
// Node 20's module loader has already used it to read this file, so there only a
// UV_THREADPOOL_SIZE set before Node starts counts.
process.env.UV_THREADPOOL_SIZE ??= '16';
const entry = new URL('../dist/cli/vmdesk.mjs', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('vmdesk: the CLI is not built yet. Run `npm run build` in the vmdesk folder, then try again.\n');
  process.exit(2);
}
await import(entry.href);
