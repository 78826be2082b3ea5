#!/usr/bin/env node
/* global require, __dirname */
// The `vmdesk` command. The TypeScript sources are bundled to dist/ by `npm run build`
// (also run by `npm ci` / `npm install` through the `prepare` script).
//
// CommonJS on purpose, like the client it loads (dist/cli/vmdesk.cjs): a command of a running
// driver then never starts Node's ES module loader, which costs ~3.5 ms for the first ES module
// of a process (scripts/cli-bundle.mjs). Commands that load the driver or another lazy module
// start it then. bin/vmdesk.mjs, the older name, loads this file.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, see above */
const fs = require('node:fs');
const module_ = require('node:module');
const path = require('node:path');

// V8's compile cache on disk (Node >= 22.1; Electron 39's Node is 22): from the second run on, the
// CLI's modules load without being compiled again. Node keeps it per user and Node version
// under os.tmpdir() (NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off) and
// never fails a program over it. Older Node has no such function: nothing happens.
module_.enableCompileCache?.();

// libvirt's event loop keeps one of libuv's worker threads for as long as a libvirt host is
// connected, and each libvirt call holds another while it waits for its host: more than the 4
// threads libuv starts with, so file and DNS work never waits behind a slow host. Read by libuv
// when the pool is first used: after this line, since require reads files synchronously. (Run
// through bin/vmdesk.mjs on Node 20, whose ES module loader has used the pool to read that file,
// only a UV_THREADPOOL_SIZE set before Node starts counts.)
process.env.UV_THREADPOOL_SIZE ??= '16';
const entry = path.join(__dirname, '../dist/cli/vmdesk.cjs');
if (!fs.existsSync(entry)) {
  process.stderr.write('vmdesk: the CLI is not built yet. Run `npm run build` in the vmdesk folder, then try again.\n');
  process.exit(2);
}
require(entry);
/* eslint-enable @typescript-eslint/no-require-imports */
