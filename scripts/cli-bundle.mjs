// How the `vmdesk` command is bundled into dist/cli. A command of a running driver (list, start,
// info, ...) must cost Node's start-up and little more (issue 22), so:
// - dist/cli/vmdesk.mjs is the client alone, in one file: the router, the control-socket client,
//   paths, errors, arguments. One file, because Node's ES module loader pays for every file it
//   resolves and reads (a few ms for the five chunks esbuild's own code splitting made of it).
// - Every `await import()` of the CLI is a module of its own beside it (cli-own-driver.mjs, the
//   driver; cli-iso-command.mjs; ...), built with code splitting, loaded by the command that
//   needs it. Where such a module uses code the client has (errors.ts, args.ts, ...), it imports
//   it from vmdesk.mjs, which exports it: one copy of each module in the process, so a
//   VmdeskError thrown by the driver is the VmdeskError the router catches (instanceof).
// app/main/cli/client-entry.test.ts builds it with these functions and checks what vmdesk.mjs
// holds: none of the driver, ISO/osinfo, mdev, libvirt, koffi or web server.
import { build } from 'esbuild';
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

/** In the lazy modules: what the client already holds comes from vmdesk.mjs, which exports it. */
function fromClient(shared) {
  return {
    name: 'vmdesk-from-client',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData?.vmdeskInner) return undefined;
        const r = await resolved(b, args);
        if (r.errors.length > 0 || !shared.has(r.path)) return undefined;
        return { path: './vmdesk.mjs', external: true };
      });
    },
  };
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
 * metafiles: `client` holds dist/cli/vmdesk.mjs alone, `lazy` every module it imports lazily.
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
  const client = await build({
    ...nodeBundleOptions,
    stdin: {
      contents:
        [...shared].map((f) => `export * from ${JSON.stringify(f)};`).join('\n') +
        `\nimport ${JSON.stringify(entry)};\n`,
      resolveDir: root,
      sourcefile: 'vmdesk-client.js',
      loader: 'js',
    },
    outfile: path.join(outdir, 'vmdesk.mjs'),
    absWorkingDir: root,
    write,
    metafile: true,
    plugins: [lazyImports(root, new Map())],
  });
  // `export *` leaves out `default` and a name two modules export differently: refuse those here
  // rather than let a lazy module fail to link at run time.
  const exported = new Set(client.metafile.outputs[path.relative(root, path.join(outdir, 'vmdesk.mjs'))].exports);
  const missing = (await Promise.all([...shared].map(async (f) => ({ f, names: await exportsOf(f) })))).flatMap(
    ({ f, names }) => names.filter((n) => !exported.has(n)).map((n) => `"${n}" of ${path.relative(root, f)}`),
  );
  if (missing.length > 0)
    throw new Error(
      `scripts/cli-bundle.mjs: dist/cli/vmdesk.mjs cannot export ${missing.join(', ')} (a default export, or a name ` +
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
    if (lazy.size === known) return { client: client.metafile, lazy: rest.metafile };
  }
}
