/** scripts/build-shell.mjs, checked on its output: what the bundles require, and that the
 * preload's main-world installer survives serialization as Electron does it. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamChannel, VmdeskApi } from '../common/api.js';
import type { MainWorldBridge, StreamSinkFns } from './main-world.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let out: string;

beforeAll(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-shell-build-'));
  execFileSync(process.execPath, [path.join(root, 'scripts/build-shell.mjs'), '--outdir', out], { stdio: 'pipe' });
}, 60_000);
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

const requires = (code: string) =>
  [...new Set([...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? ''))].sort();

describe('dist/shell/main.cjs', () => {
  it('leaves electron to the runtime and bundles everything but Node built-ins', () => {
    const code = fs.readFileSync(path.join(out, 'main.cjs'), 'utf8');
    const mods = requires(code);
    expect(mods).toContain('electron');
    expect(mods.filter((m) => m !== 'electron' && !m.startsWith('node:'))).toEqual([]);
    // koffi is loaded lazily, through a require made from the bundle's own URL (koffi-native.ts).
    expect(code).toContain('createRequire)(__vmdeskBundleUrl)("koffi")');
  });

  it('gives import.meta.url the bundle URL, and has no empty import.meta left (issue 20)', () => {
    const code = fs.readFileSync(path.join(out, 'main.cjs'), 'utf8');
    expect(code.split('\n')[0]).toBe('const __vmdeskBundleUrl = require("node:url").pathToFileURL(__filename).href;');
    // esbuild's stand-in for import.meta in a CommonJS file, which made every .url undefined.
    expect(code).not.toMatch(/\bimport_meta\d* = \{\}/);
  });

  it('finds the preload and the renderer relative to itself', () => {
    const code = fs.readFileSync(path.join(out, 'main.cjs'), 'utf8');
    expect(code).toContain('shellLayout(__dirname)');
    expect(code).toContain('"preload.cjs"');
  });
});

describe('dist/shell/preload.cjs', () => {
  const code = () => fs.readFileSync(path.join(out, 'preload.cjs'), 'utf8');

  it('requires electron and nothing else (a sandboxed preload can require nothing else)', () => {
    expect(requires(code())).toEqual(['electron']);
    expect(code().match(/\brequire\s*\(/g)).toHaveLength(1);
  });

  it('installs a working window.vmdesk from the serialized function, in a separate context', async () => {
    let script: { func: (...a: unknown[]) => unknown; args?: unknown[] } | undefined;
    const exposed: string[] = [];
    const electron = {
      contextBridge: {
        executeInMainWorld: (s: typeof script) => {
          script = s;
        },
        exposeInMainWorld: (key: string) => {
          exposed.push(key);
        },
      },
      ipcRenderer: { invoke: async () => undefined, on: () => {}, removeListener: () => {}, postMessage: () => {} },
      webUtils: { getPathForFile: () => '' },
    };
    const fakeRequire = (id: string) => {
      if (id !== 'electron') throw new Error(`the sandbox has no ${id}`);
      return electron;
    };
    vm.runInNewContext(code(), { require: fakeRequire, module: { exports: {} }, exports: {}, console });
    expect(exposed).toEqual(['vmdeskShell']);
    expect(script?.func).toBeTypeOf('function');

    // Electron compiles func from its source text in the page's world: nothing else comes along.
    const page = vm.createContext({ TextEncoder, console });
    const install = vm.runInContext(`(${script!.func.toString()})`, page) as (b: MainWorldBridge) => void;
    let sink: StreamSinkFns | undefined;
    const sent: Uint8Array[] = [];
    install({
      call: async (method) => ({ ok: true, result: `called ${method}` }),
      onEvent: () => () => {},
      openStream: (_n, _p, s) => {
        sink = s;
        return {
          send: (b) => {
            sent.push(b);
          },
          close: () => {},
        };
      },
    });
    const api = (page as { vmdesk: VmdeskApi }).vmdesk;
    expect(await api.call('vm.list', {})).toBe('called vm.list');
    const ch: StreamChannel = api.openStream('console.serial', { vm: 'x' });
    const got: number[] = [];
    ch.onmessage = (ev) => got.push(...new Uint8Array(ev.data));
    sink!.open();
    sink!.data(new Uint8Array([5, 6]).buffer);
    ch.send(new Uint8Array([7]));
    expect(ch.readyState).toBe(1);
    expect(got).toEqual([5, 6]);
    expect(sent.map((b) => [...b])).toEqual([[7]]);
  });
});
