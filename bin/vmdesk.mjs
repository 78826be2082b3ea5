#!/usr/bin/env node
// The `vmdesk` command by its older name: bin/vmdesk.cjs is the command (package.json "bin"),
// CommonJS so that a client command never starts Node's ES module loader; this file, an ES
// module, does start it (~3.5 ms), then runs that one. Kept for whoever runs it by path.
// Through require, not `import`: Node's ES module loader would parse a CommonJS file for its
// export names first, which costs another millisecond for nothing here.
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./vmdesk.cjs');
