// How the `vmdesk` command is bundled into dist/cli. A command of a running driver (list, start,
// info, ...) must cost Node's start-up and little more (issue 22), so:
// - dist/cli/vmdesk.cjs is the client alone, in one file: the router, the control-socket client,
//   paths, errors, arguments. One file, because Node's module loader pays for every file it
//   resolves and reads (a few ms for the five chunks esbuild's own code splitting made of it).
//   CommonJS, because the first ES module a Node process loads costs ~3.5 ms more than a
//   CommonJS file (Node 20 here, measured: `node empty.mjs` against `node -e 0`): with
//   bin/vmdesk.cjs as the command, a client command never starts Node's ES module loader.
// - Every `await import()` of the CLI is an ES module of its own beside it (cli-own-driver.mjs,
//   the driver; cli-iso-command.mjs; ...), built with code splitting, loaded by the command that
//   needs it. Where such a module uses code the client has (errors.ts, args.ts, ...), it imports
//   it from vmdesk.cjs, which exports it: Node's ES module loader takes a CommonJS module that is
//   already loaded from require's cache, and its export names from the `0 && (module.exports =
//   {...})` line esbuild writes for that purpose. One copy of each module in the process, so a
//   VmdeskError thrown by the driver is the VmdeskError the router catches (instanceof).
// app/main/cli/client-entry.test.ts builds it with these functions and checks what vmdesk.cjs
// holds: none of the driver, ISO/osinfo, mdev, libvirt, koffi or web server.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

/** What every bundle Node runs from dist/ shares (the CLI, the bench): ES modules for Node 20,
 * npm packages left to node_modules, and a `require` for bundled code that calls one. */
export const nodeBundleOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  outExtension: { '.js': '.mjs' },
  banner: {
    js: "import { createRequire as __vmdeskCreateRequire } from 'node:module'; const require = __vmdeskCreateRequire(import.meta.url);",
  },
};

const ENTRY = 'app/main/cli/bin.ts';
/** The client's file in dist/cli (bin/vmdesk.cjs requires it). */
export const CLIENT_FILE = 'vmdesk.cjs';

/** A lazily loaded module's file name in dist/cli: its path under app/, e.g. cli-own-driver. */
function lazyName(root, file) {
  const rel = path.relative(path.join(root, 'app'), file).replace(/\.[cm]?[jt]sx?$/, '');
  return rel
    .replace(/^main\//, '')
    .split(path.sep)
    .join('-');
}

/** Where esbuild itself resolves an import (asked from a plugin: the plugins skip that question). */
function resolved(b, args) {
  const { path: p, resolveDir, kind, importer } = args;
  return b.resolve(p, { resolveDir, kind, importer, pluginData: { vmdeskInner: true } });
}

/** Marks every `import()` of a source file external, renamed to its module in dist/cli. */
function lazyImports(root, found) {
  return {
    name: 'vmdesk-lazy-imports',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.pluginData?.vmdeskInner) return undefined;
        const r = await resolved(b, args);
        if (r.errors.length > 0 || r.external || !r.path.startsWith(root + path.sep)) return undefined;
        found.set(lazyName(root, r.path), r.path);
        return { path: `./${lazyName(root, r.path)}.mjs`, external: true };
      });
    },
  };
}

/**
 * In the lazy modules: what the client already holds comes from vmdesk.cjs, which exports it.
 * Through `require` (the banner's), not an `import` of a CommonJS file: Node's ES module loader
 * would first scan all of vmdesk.cjs for its export names with cjs-module-lexer (~5 ms on
 * Node 20 here). require() returns the module already loaded, so the instance is the client's.
 */
function fromClient(shared) {
  const ns = 'vmdesk-client';
  return {
    name: 'vmdesk-from-client',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData?.vmdeskInner || args.namespace === ns) return undefined;
        const r = await resolved(b, args);
        if (r.errors.length > 0 || !shared.has(r.path)) return undefined;
        return { path: CLIENT_FILE, namespace: ns };
      });
      b.onResolve({ filter: /.*/, namespace: ns }, (args) => ({ path: args.path, external: true }));
      b.onLoad({ filter: /.*/, namespace: ns }, () => ({
        contents: `module.exports = require(${JSON.stringify(`./${CLIENT_FILE}`)});`,
        loader: 'js',
      }));
    },
  };
}

/** esbuild's helper for an `import x from` (or `import * as x from`) a CommonJS module, as it
 * writes it into a CommonJS bundle (0.2x): eight lines. */
export const ESBUILD_TO_ESM = `var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));
`;
/** The same in as many lines (the source map stays right), for Node's built-in modules only. */
const BUILTIN_TO_ESM = `// vmdesk (scripts/cli-bundle.mjs): the client's \`import fs from 'node:fs'\` and the like. esbuild's
// helper gives each such import a copy of the module, a getter defined per property (~100 for
// node:fs; 11 imports in the client: ~1 ms of every command's start-up here). This one gives
// the module itself as the prototype of an object that has \`default\` too: the same names, read
// through to the module as esbuild's getters do. Only built-in modules get here (buildCli checks
// that every call is one).
var __toESM = (mod) => __create(mod, { default: { value: mod, enumerable: true } });
//
`;

/**
 * The client's bundle with BUILTIN_TO_ESM for esbuild's helper. Refuses a bundle where the helper
 * is not the one this file knows (an esbuild update: compare, then update ESBUILD_TO_ESM) or
 * where it serves anything but a built-in module (a package's namespace must stay esbuild's).
 */
export function cheapBuiltinImports(code) {
  const at = code.indexOf(ESBUILD_TO_ESM);
  if (at < 0) {
    if (!code.includes('__toESM')) return code;
    throw new Error(
      "scripts/cli-bundle.mjs: esbuild's __toESM helper is not the one ESBUILD_TO_ESM holds (a new esbuild?): compare them and update both helpers.",
    );
  }
  const calls = [...code.matchAll(/__toESM\((require\("([^"]*)"\))?/g)];
  const others = calls.filter((m) => !m[2]?.startsWith('node:')).map((m) => m[2] ?? m[0]);
  if (others.length > 0)
    throw new Error(
      `scripts/cli-bundle.mjs: the client imports ${others.join(', ')} by default or as a namespace: only Node's built-in modules may be imported so there (see BUILTIN_TO_ESM).`,
    );
  if (BUILTIN_TO_ESM.split('\n').length !== ESBUILD_TO_ESM.split('\n').length)
    throw new Error(
      'scripts/cli-bundle.mjs: BUILTIN_TO_ESM must have as many lines as ESBUILD_TO_ESM (the source map).',
    );
  return code.slice(0, at) + BUILTIN_TO_ESM + code.slice(at + ESBUILD_TO_ESM.length);
}

/** The names a module exports (from a build of the file alone). */
async function exportsOf(file) {
  const r = await build({
    entryPoints: [file],
    write: false,
    metafile: true,
    bundle: false,
    format: 'esm',
    outdir: 'x',
  });
  return Object.values(r.metafile.outputs)[0].exports;
}

/**
 * Builds the CLI into `root`/dist/cli (`write: false`: in memory only). Returns both builds'
 * metafiles: `client` holds dist/cli/vmdesk.cjs alone, `lazy` every module it imports lazily;
 * and `clientCode`, vmdesk.cjs as written.
 */
export async function buildCli(root, { write = true } = {}) {
  const outdir = path.join(root, 'dist/cli');
  const entry = path.join(root, ENTRY);
  // 1. What the client is: the entry and everything it imports statically.
  const lazy = new Map();
  const discover = await build({
    ...nodeBundleOptions,
    entryPoints: [entry],
    outdir,
    absWorkingDir: root,
    write: false,
    metafile: true,
    sourcemap: false,
    plugins: [lazyImports(root, lazy)],
  });
  const inputs = Object.keys(Object.values(discover.metafile.outputs)[0].inputs).map((f) => path.join(root, f));
  const shared = new Set(inputs.filter((f) => f !== entry && /\.[cm]?tsx?$/.test(f)));
  // 2. The client, exporting all of it for the lazy modules.
  const clientStdin = {
    contents:
      [...shared].map((f) => `export * from ${JSON.stringify(f)};`).join('\n') + `\nimport ${JSON.stringify(entry)};\n`,
    resolveDir: root,
    sourcefile: 'vmdesk-client.js',
    loader: 'js',
  };
  const client = await build({
    ...nodeBundleOptions,
    format: 'cjs',
    stdin: clientStdin,
    outfile: path.join(outdir, CLIENT_FILE),
    absWorkingDir: root,
    // Written below, with cheapBuiltinImports.
    write: false,
    metafile: true,
    // CommonJS has `require` and no `import.meta`: the client's `import.meta.url` is its file's URL
    // (as in scripts/build-shell.mjs); any other import.meta property fails the build instead of
    // becoming undefined.
    banner: { js: "const __vmdeskClientUrl = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__vmdeskClientUrl' },
    logOverride: { 'empty-import-meta': 'error' },
    plugins: [lazyImports(root, new Map())],
  });
  const clientFile = client.outputFiles.find((f) => f.path.endsWith(CLIENT_FILE));
  const clientCode = cheapBuiltinImports(clientFile.text);
  if (write) {
    fs.mkdirSync(outdir, { recursive: true });
    for (const f of client.outputFiles) fs.writeFileSync(f.path, f === clientFile ? clientCode : f.contents);
  }
  // `export *` leaves out `default` and a name two modules export differently: refuse those here
  // rather than let a lazy module fail to link at run time. (A CommonJS output's metafile lists no
  // exports: the names come from the same bundle built as an ES module, in memory.)
  const names = await build({
    ...nodeBundleOptions,
    stdin: clientStdin,
    outfile: path.join(outdir, 'vmdesk-names.mjs'),
    absWorkingDir: root,
    write: false,
    metafile: true,
    sourcemap: false,
    // The same sources as the client build above, which reports every warning: this in-memory
    // copy is read only for its export names, and would repeat those warnings word for word.
    logLevel: 'silent',
    plugins: [lazyImports(root, new Map())],
  });
  const exported = new Set(Object.values(names.metafile.outputs)[0].exports);
  const missing = (await Promise.all([...shared].map(async (f) => ({ f, names: await exportsOf(f) })))).flatMap(
    ({ f, names }) => names.filter((n) => !exported.has(n)).map((n) => `"${n}" of ${path.relative(root, f)}`),
  );
  if (missing.length > 0)
    throw new Error(
      `scripts/cli-bundle.mjs: dist/cli/${CLIENT_FILE} cannot export ${missing.join(', ')} (a default export, or a name ` +
        "another client module exports too): the CLI's client modules share one namespace there. Name or rename it.",
    );
  // 3. The lazy modules, with code splitting among themselves (again if one of them imports
  // another lazily that the client does not).
  for (;;) {
    const known = lazy.size;
    const rest = await build({
      ...nodeBundleOptions,
      entryPoints: Object.fromEntries(lazy),
      outdir,
      entryNames: '[name]',
      chunkNames: 'chunk-[hash]',
      splitting: true,
      absWorkingDir: root,
      write,
      metafile: true,
      plugins: [fromClient(shared), lazyImports(root, lazy)],
    });
    if (lazy.size === known) return { client: client.metafile, lazy: rest.metafile, clientCode };
  }
}
