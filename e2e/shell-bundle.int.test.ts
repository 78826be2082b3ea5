/**
 * The desktop app's main process as it ships: the real `dist/shell/main.cjs` bundle (what
 * Electron loads; `npm run build` made it) run in Node, with `require('electron')` answered by
 * the typed fake electron (app/main/shell/testing/fake-electron.ts). Everything under Electron's
 * API is real: the bundle's own copy of the shell, the driver it owns, QEMU (TCG) booting the
 * test guest, koffi, the control socket, the mdev helper run through the pkexec stand-in.
 *
 * This is the test that would have caught issue 20's defect: the sources were right, the bundle
 * was not (esbuild turned `import.meta` into `{}` in this CommonJS file, so every vGPU fix from
 * the window threw ERR_INVALID_ARG_TYPE). Unit tests run the TypeScript sources and cannot see
 * what bundling changes.
 *
 * Not real, and why: Electron itself (its binary cannot be downloaded here; the fake records what
 * the shell asked of it and delivers IPC with structured clones), pkexec and the kernel's mdev
 * sysfs (no polkit agent, no mdev-capable GPU: e2e/support/fake-pkexec.ts).
 */
import fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MdevDevice, MdevPrivilegedResult } from '../app/main/common/mdev-types.js';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildSysfs } from '../app/main/mdev/fixtures/build-sysfs.js';
import { gvtgHost } from '../app/main/mdev/fixtures/hosts.js';
import { PACKAGED_HELPER } from '../app/main/mdev/privileged.js';
import { APP_URL, IPC, type CallReply, type PortDown } from '../app/main/shell/channels.js';
import {
  fake,
  fakeElectronModule,
  FakeBrowserWindow,
  FakeTray,
  resetFakeElectron,
} from '../app/main/shell/testing/fake-electron.js';
import { READY } from './guest/guest-shell.js';
import { guestIso, qemuPidsUnder, REPO, Sandbox, waitFor } from './support/cli.js';
import { makeFakePkexec } from './support/fake-pkexec.js';

const BUNDLE = path.join(REPO, 'dist/shell/main.cjs');
const GLOBAL_KEY = '__vmdeskFakeElectron';

let sandbox: Sandbox;
let pkexecDir: Sandbox;
let sysfs: { root: string; cleanup(): void };
const savedEnv = { ...process.env };
const savedArgv = process.argv;
let restoreResolve: (() => void) | undefined;

/** `require('electron')` from the bundle → a tiny CommonJS module handing out the fake. */
function resolveElectronToFake(stub: string): () => void {
  const M = Module as unknown as {
    _resolveFilename(request: string, parent: unknown, ...rest: unknown[]): string;
  };
  const original = M._resolveFilename;
  M._resolveFilename = function (request, parent, ...rest) {
    if (request === 'electron') return stub;
    return original.call(this, request, parent, ...rest);
  };
  return () => {
    M._resolveFilename = original;
  };
}

/** A contract call the way the page makes it: ipcRenderer.invoke on the one call channel. */
async function call<T>(method: string, params: unknown): Promise<T> {
  const reply = (await fake.ipcRenderer.invoke(IPC.call, method, params)) as CallReply;
  if (!reply.ok) throw new Error(`${method}: ${reply.error.code}: ${reply.error.message}`);
  return reply.result as T;
}

function trayItemClick(labels: string[]): void {
  const menu = FakeTray.instances[0]?.menu;
  if (!menu) throw new Error('the tray has no menu');
  const item = menu.find(labels);
  if (!item.click || item.enabled === false) throw new Error(`tray item ${labels.join(' › ')} cannot be clicked`);
  item.click();
}

beforeAll(async () => {
  if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first.`);
  sysfs = buildSysfs(gvtgHost);
  pkexecDir = new Sandbox();
  const pkexec = await makeFakePkexec(pkexecDir.root, sysfs.root);
  sandbox = new Sandbox({
    VMDESK_SYSFS_ROOT: sysfs.root,
    VMDESK_DEV_ROOT: sysfs.root,
    VMDESK_ETC_ROOT: sysfs.root,
    VMDESK_PKEXEC: pkexec.path,
  });
  // The bundle reads its environment and argv as Electron's main process would.
  for (const [k, v] of Object.entries(sandbox.env)) if (v !== undefined) process.env[k] = v;
  process.argv = ['/opt/vmdesk/vmdesk'];

  resetFakeElectron();
  (globalThis as Record<string, unknown>)[GLOBAL_KEY] = fakeElectronModule;
  const stub = path.join(sandbox.root, 'electron-stub.cjs');
  fs.writeFileSync(stub, `module.exports = globalThis.${GLOBAL_KEY};\n`);
  restoreResolve = resolveElectronToFake(stub);
  createRequire(import.meta.url)(BUNDLE);
}, 120_000);

afterAll(async () => {
  restoreResolve?.();
  process.argv = savedArgv;
  for (const pid of sandbox ? qemuPidsUnder(sandbox.root) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  sysfs?.cleanup();
  pkexecDir?.cleanup();
  sandbox?.cleanup();
});

describe('dist/shell/main.cjs, loaded as Electron would load it', () => {
  let vm: VmSummary;

  it('starts: one instance, the sandbox on, a window on app://, the tray from the driver', async () => {
    const app = fake.app;
    await waitFor(() => FakeTray.instances.length === 1, 'the tray', 60_000);
    expect(app.sandboxed).toBe(true);
    expect(fake.privilegedSchemes.map((s) => s.scheme)).toEqual(['app']);
    expect(fake.protocolHandlers.has('app')).toBe(true);
    const win = FakeBrowserWindow.instances[0]!;
    expect(win.loadedUrl).toBe(APP_URL);
    expect(win.visible).toBe(true);
    expect(win.options.webPreferences?.preload).toBe(path.join(REPO, 'dist/shell/preload.cjs'));
    expect(fake.errorBoxes).toEqual([]);
    // The app:// handler serves the real renderer bundle.
    const page = await fake.protocolHandlers.get('app')!(new Request(APP_URL));
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<div id="root">/);
    await waitFor(() => FakeTray.instances[0]!.tooltip === 'vmdesk — No VMs yet', 'the tray summary', 30_000);
    // The application menu, with the shortcuts the page handles.
    expect(fake.applicationMenu?.find(['&File', 'New VM…']).accelerator).toBe('CmdOrCtrl+N');
  });

  it('answers a contract call from the page (vm.define) and tells the tray', async () => {
    vm = await call<VmSummary>('vm.define', {
      name: 'bundled',
      memoryMiB: 256,
      cpus: 1,
      cdrom: guestIso(),
      accel: 'tcg',
    });
    expect(vm).toMatchObject({ name: 'bundled', state: 'stopped' });
    await waitFor(
      () => FakeTray.instances[0]!.menu?.items.some((i) => i.label === 'bundled — stopped') === true,
      'the VM in the tray menu',
      30_000,
    );
    // The driver's events reach the page too.
    const win = FakeBrowserWindow.instances[0]!;
    expect(win.webContents.sent.some((m) => m.channel === IPC.event && m.args[0] === 'vm.changed')).toBe(true);
    // The page selects it: the VM menu is about it.
    fake.ipcRenderer.postMessage(IPC.selection, vm.id);
    expect(fake.applicationMenu?.find(['V&M', 'bundled — stopped']).enabled).toBe(false);
    expect(fake.applicationMenu?.find(['V&M', 'Start']).enabled).not.toBe(false);
  });

  it('starts the VM from the tray menu; its serial console streams over a MessagePort', async () => {
    trayItemClick(['bundled — stopped', 'Start']);
    await waitFor(
      () => FakeTray.instances[0]!.menu?.items.some((i) => i.label === 'bundled — running') === true,
      'the VM running in the tray menu',
      120_000,
    );
    const { port1, port2 } = new MessageChannel();
    const got: PortDown[] = [];
    let text = '';
    port1.onmessage = (ev: MessageEvent<PortDown>) => {
      got.push(ev.data);
      if (ev.data.t === 'data') text += Buffer.from(ev.data.d).toString('latin1');
    };
    fake.ipcRenderer.postMessage(IPC.stream, { name: 'console.serial', params: { vm: vm.id } }, [port2]);
    try {
      await waitFor(() => text.includes(READY), 'the guest ready marker on the serial stream', 150_000);
      expect(got[0]).toEqual({ t: 'open' });
      port1.postMessage({ t: 'data', d: new TextEncoder().encode('echo bundle-$((6*7))\n') });
      await waitFor(() => text.includes('bundle-42'), 'the guest answer', 60_000);
    } finally {
      port1.postMessage({ t: 'close' });
      port1.close();
    }
  });

  it('creates a vGPU with the administrator prompt (the helper found beside the bundle)', async () => {
    const r = await call<MdevPrivilegedResult<MdevDevice>>('mdev.create', {
      parent: '0000:00:02.0',
      type: 'i915-GVTg_V5_8',
    });
    expect(r.outcome).toBe('done');
    if (r.outcome !== 'done') return;
    expect(r.result).toMatchObject({ parent: '0000:00:02.0', type: 'i915-GVTg_V5_8' });
    expect(fs.existsSync(path.join(sysfs.root, 'sys/bus/mdev/devices', r.result.uuid))).toBe(true);
    // The helper run was the repository's, found from dist/shell (not $VMDESK_MDEV_HELPER), unless
    // this machine has vmdesk's package installed (its copy comes first).
    const log = fs.readFileSync(path.join(pkexecDir.root, 'pkexec.log'), 'utf8');
    expect(log).toContain(
      fs.existsSync(PACKAGED_HELPER) ? PACKAGED_HELPER : path.join(REPO, 'resources/mdev-helper/vmdesk-mdev-helper'),
    );
  });

  it('forces the VM off from the tray (after its question), then quits without asking (nothing left running)', async () => {
    fake.messageBoxResponses.push(1); // "Force off" in the confirmation the window also asks
    trayItemClick(['bundled — running', 'Force off']);
    await waitFor(
      () => FakeTray.instances[0]!.menu?.items.some((i) => i.label === 'bundled — stopped') === true,
      'the VM stopped in the tray menu',
      60_000,
    );
    expect(qemuPidsUnder(sandbox.root)).toEqual([]);
    trayItemClick(['Quit vmdesk']);
    await waitFor(() => fake.app.quitted, 'the app to quit', 30_000);
    expect(fake.messageBoxes.map((b) => b.message)).toEqual(['Force off “bundled”?']);
    expect(fake.errorBoxes).toEqual([]);
    expect(FakeBrowserWindow.instances.every((w) => w.destroyed)).toBe(true);
  });
});
