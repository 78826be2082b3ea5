/**
 * The `vmdesk` entry stays a client: what dist/cli/vmdesk.cjs loads before any `await import()`
 * (itself and any file it imports statically, transitively) holds none of the driver's code.
 * A command of a running driver (list, start, info, ...) then costs Node's start-up, the router
 * and one round trip on the control socket; the driver, ISO/osinfo, mdev, libvirt, koffi and the
 * web server are chunks that only the commands needing them load.
 *
 * Built in memory the way `npm run build` builds it (scripts/cli-bundle.mjs) and checked on
 * esbuild's metafiles: an import graph, not a timing (the figures are `npm run bench -- --only
 * list`'s). Each rule says why, so a failure names the import to make dynamic.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cheapBuiltinImports, CLIENT_FILE, ESBUILD_TO_ESM } from '../../../scripts/cli-bundle.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Source folders and files a client command must not load, with the reason. */
const HEAVY_SOURCES: [prefix: string, why: string][] = [
  ['app/main/vm/', 'the driver: VmManager, definitions, VM instances'],
  ['app/main/qemu/', 'QEMU argv, QMP and processes: the driver runs them'],
  ['app/main/host/', 'host probes (vmdesk host loads them itself)'],
  ['app/main/iso/', 'the ISO reader and the osinfo database (hundreds of KB)'],
  ['app/main/mdev/', 'vGPU discovery and the privileged helper'],
  ['app/main/libvirt/', 'libvirt connections'],
  ['app/main/consoles/', 'byte streams: only console and log --follow use them'],
  ['app/main/shell/', 'Electron'],
  ['app/native/', 'the koffi facade'],
  ['app/main/ipc/driver-link.ts', 'openDriver becomes the owner: own-driver.ts loads it'],
  ['app/main/ipc/dispatcher.ts', 'the driver side of the contract'],
  ['app/main/ipc/control-socket.ts', 'the driver side of the control socket'],
  ['app/main/ipc/web-', 'the web server of vmdesk web'],
  ['app/main/cli/own-driver.ts', 'the long way to the driver'],
  ['app/main/cli/web-command.ts', 'vmdesk web'],
  ['app/main/cli/settings-command.ts', 'vmdesk settings'],
  ['app/main/cli/iso-command.ts', 'vmdesk iso'],
  ['app/main/cli/mdev-command.ts', 'vmdesk mdev'],
  ['app/main/cli/usb-command.ts', 'vmdesk usb'],
];

/** Packages a client command must not load. */
const HEAVY_PACKAGES: [name: string, why: string][] = [
  ['koffi', 'a native module: dlopen and its own start-up'],
  ['ws', 'the web server'],
  ['fast-xml-parser', 'libvirt XML'],
  ['valibot', 'the contract schemas: the driver validates, the client only sends (200 KB of JS)'],
];

interface EntryGraph {
  /** Source files in the chunks the entry loads before any dynamic import. */
  sources: Set<string>;
  /** Packages and builtins those chunks import. */
  externals: Set<string>;
  /** Source files of every output: the whole program, lazy chunks included. */
  everything: Set<string>;
}

function staticGraph(client: Metafile, lazy: Metafile): EntryGraph {
  const outputs = client.outputs;
  const entry = `dist/cli/${CLIENT_FILE}`;
  if (!outputs[entry]) throw new Error(`no ${entry} among ${Object.keys(outputs).join(', ')}`);
  const sources = new Set<string>();
  const externals = new Set<string>();
  const seen = new Set<string>();
  const todo: string[] = [entry];
  while (todo.length > 0) {
    const out = todo.pop()!;
    if (seen.has(out)) continue;
    seen.add(out);
    for (const input of Object.keys(outputs[out]!.inputs)) sources.add(input);
    for (const imp of outputs[out]!.imports) {
      // `await import()` is what loads lazily; everything else runs before the router does.
      if (imp.kind === 'dynamic-import') continue;
      if (imp.external) externals.add(imp.path);
      else todo.push(imp.path);
    }
  }
  const everything = new Set(
    [client, lazy].flatMap((m) => Object.values(m.outputs).flatMap((o) => Object.keys(o.inputs))),
  );
  return { sources, externals, everything };
}

/** `koffi`, `koffi/indirect`, `@scope/pkg/x` → the package's name. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

describe('the vmdesk client entry', () => {
  let graph: EntryGraph;
  let clientCode: string;
  beforeAll(async () => {
    const built = await buildCli(ROOT, { write: false });
    graph = staticGraph(built.client, built.lazy);
    clientCode = built.clientCode;
  });

  it('loads the router and the control-socket client, and the driver only through dynamic imports', () => {
    // The walk itself: what the client needs is found, and the heavy code is in the build, lazily.
    expect(graph.sources).toContain('app/main/cli/main.ts');
    expect(graph.sources).toContain('app/main/ipc/control-client.ts');
    expect(graph.sources).toContain('app/main/cli/client-link.ts');
    expect(graph.externals).toContain('node:net');
    expect(graph.everything).toContain('app/main/vm/vm-manager.ts');
    expect(graph.everything).toContain('app/main/iso/osinfo-source.ts');
    expect(graph.everything).toContain('app/native/koffi-native.ts');
  });

  it('imports no driver, ISO, mdev, libvirt, native or web-server module statically', () => {
    const found = [...graph.sources]
      .map((src) => ({ src, rule: HEAVY_SOURCES.find(([prefix]) => src.startsWith(prefix)) }))
      .filter((x) => x.rule)
      .map(({ src, rule }) => `${src} (${rule![1]})`)
      .sort();
    expect(
      found,
      'Reached from app/main/cli/bin.ts without an `await import()`: make the import that brings it in dynamic',
    ).toEqual([]);
  });

  it('imports none of the heavy packages statically', () => {
    const found = [...graph.externals]
      .map((spec) => ({ spec, rule: HEAVY_PACKAGES.find(([name]) => packageOf(spec) === name) }))
      .filter((x) => x.rule)
      .map(({ spec, rule }) => `${spec} (${rule![1]})`)
      .sort();
    expect(found, 'Imported statically by the client entry: import it in the command that needs it').toEqual([]);
  });

  it("gives a built-in module's default import the module itself, not a copy made property by property", () => {
    const calls = [...clientCode.matchAll(/__toESM\(require\("(node:[a-z_/]+)"\)/g)].map((m) => m[1]);
    expect(calls).toContain('node:fs');
    expect(clientCode).not.toContain('__copyProps(\n  // If the importer is in node compatibility mode');
    // The helper the bundle now holds, run on a real built-in module.
    const helper = /^var __toESM = .*$/m.exec(clientCode)![0];
    const toEsm = new Function('__create', `${helper}; return __toESM;`)(Object.create) as (
      m: unknown,
      nodeMode?: number,
    ) => { default: typeof path; join: typeof path.join; sep: string };
    const ns = toEsm(path, 1);
    expect(ns.default).toBe(path);
    expect(ns.join).toBe(path.join);
    expect(ns.sep).toBe(path.sep);
    expect(Object.getOwnPropertyNames(ns)).toEqual(['default']);
  });
});

describe('cheapBuiltinImports', () => {
  it("refuses a bundle where esbuild's helper serves a package, and keeps the lines where they were", () => {
    const bundle = (calls: string) => `var __create = Object.create;\n${ESBUILD_TO_ESM}${calls}\n`;
    expect(() => cheapBuiltinImports(bundle('var a = __toESM(require("valibot"), 1);'))).toThrow(
      /imports valibot by default or as a namespace/,
    );
    const before = bundle('var a = __toESM(require("node:fs"), 1);');
    const after = cheapBuiltinImports(before);
    expect(after).toContain('var __toESM = (mod) =>');
    // The source map's lines: the code after the helper is on the line it was.
    expect(after.split('\n').indexOf('var a = __toESM(require("node:fs"), 1);')).toBe(
      before.split('\n').indexOf('var a = __toESM(require("node:fs"), 1);'),
    );
  });

  it("refuses esbuild's helper in a form it does not know (a new esbuild)", () => {
    expect(() => cheapBuiltinImports('var __toESM = (mod) => mod;\nvar a = __toESM(require("node:fs"), 1);')).toThrow(
      /not the one ESBUILD_TO_ESM holds/,
    );
    expect(cheapBuiltinImports('var a = require("node:fs");')).toBe('var a = require("node:fs");');
  });
});
