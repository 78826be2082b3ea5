/// <reference lib="dom" />
/**
 * The renderer's Electron path in real Chromium (issue 20). Electron's binary cannot run here, so
 * e2e/support/electron-page.ts puts together everything of the window except Electron itself:
 *
 * Real: the main-process shell (`runShell`: registerIpc with its sender check, driver-bridge's
 * routeCall and pipeStream, the app:// handler with its CSP, shell events such as a second launch
 * with an ISO, the forwarding of the driver's events) on the typed fake electron; the driver
 * link (`openDriver` as main.ts calls it: this process owns the VMs; the vGPU case is a client
 * of a `vmdesk driver` owner) with the test guest under QEMU TCG; the preload bundle
 * dist/shell/preload.cjs and its serialized main-world installer; the renderer bundle
 * dist/renderer in Debian's Chromium, which takes window.vmdesk; the page's MessagePorts, so
 * both halves of PORT_FLOW's flow control.
 *
 * Stood in for: ipcRenderer / contextBridge / webUtils (a WebSocket to this process; see
 * electron-shim/page-shim.ts), Electron's MessagePortMain (a Node MessagePort, the fake's), the
 * preload's isolated world (it runs in the page's main world), the app:// scheme (the page is on
 * http://127.0.0.1), the native file dialog, and for the vGPU wizard the kernel's mdev sysfs and
 * pkexec (as e2e/vgpu-wizard.int.test.ts, and for the same reasons).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { VmdeskApi, VmdeskShellApi } from '../app/main/common/api.js';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { openDriver } from '../app/main/ipc/driver-link.js';
import { buildSysfs } from '../app/main/mdev/fixtures/build-sysfs.js';
import { gvtgHost } from '../app/main/mdev/fixtures/hosts.js';
import { resolveAppPaths, type AppPaths } from '../app/main/paths/app-paths.js';
import { PORT_FLOW } from '../app/main/shell/channels.js';
import { fake, FakeEvent } from '../app/main/shell/testing/fake-electron.js';
import { createHostServices } from '../app/main/vm/host-adapter.js';
import { getNative } from '../app/native/index.js';
import { openElectronWindow, type ElectronWindow } from './support/electron-page.js';
import { makeFakePkexec } from './support/fake-pkexec.js';
import { guestIso, REPO, Sandbox, waitFor } from './support/cli.js';
import { CHROMIUM, shot } from './support/web.js';

vi.mock('electron', async () => (await import('../app/main/shell/testing/fake-electron.js')).fakeElectronModule);

const READY = 'VMDESK-GUEST-READY';
/** The flood: `seq 1 FLOOD_LINES` prints ~690 kB, far past PORT_FLOW.windowBytes, yet within
 * what the serial stream's own channel holds for a viewer (STREAM_BUDGET_BYTES) before it drops one. */
const FLOOD_LINES = 100_000;
const SHOTS = '/tmp/shots-bridge';

/** What the preload puts on the page's window (app/renderer/api/electron-api.ts declares it for the renderer). */
type ElectronGlobals = { vmdesk?: VmdeskApi; vmdeskShell?: VmdeskShellApi };

function pathsOf(s: Sandbox): AppPaths {
  return resolveAppPaths({
    env: s.env,
    platform: process.platform,
    home: s.root,
    uid: process.getuid?.() ?? 0,
    tmpdir: os.tmpdir(),
  });
}

async function look(w: ElectronWindow, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await w.page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  await shot(w.page, `electron-${name}`);
}

describe.skipIf(!fs.existsSync(CHROMIUM))('the Electron window in Chromium (skipped without /usr/bin/chromium)', () => {
  let s: Sandbox;
  let win: ElectronWindow;
  let vm: VmSummary;
  let cleanups: (() => Promise<void> | void)[] = [];
  const accel = process.env.VMDESK_ACCEL;
  const configHome = process.env.XDG_CONFIG_HOME;

  beforeAll(async () => {
    s = new Sandbox();
    // This process is the window's main process, so the driver it owns reads our environment
    // (and the login item is written under the sandbox's config folder, not the real one).
    process.env.VMDESK_ACCEL = 'tcg';
    process.env.XDG_CONFIG_HOME = s.env.XDG_CONFIG_HOME;
    const paths = pathsOf(s);
    win = await openElectronWindow({
      paths,
      openLink: (layout) =>
        openDriver({
          paths,
          kind: 'app',
          host: createHostServices(paths),
          native: getNative(),
          programDir: layout.programDir,
        }),
      defer: (c) => cleanups.push(c),
    });
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
    s?.cleanup();
    if (accel === undefined) delete process.env.VMDESK_ACCEL;
    else process.env.VMDESK_ACCEL = accel;
    if (configHome === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = configHome;
  });

  it('Preferences turns "Start vmdesk at login" on and off: the XDG autostart entry the tray also shows', async () => {
    const { page } = win;
    const entry = path.join(s.env.XDG_CONFIG_HOME!, 'autostart', 'vmdesk.desktop');
    const open = async () => {
      await page.getByRole('button', { name: 'Preferences…' }).click();
      const d = page.getByRole('dialog', { name: 'Preferences' });
      await d.getByLabel('Start vmdesk at login').waitFor();
      return d;
    };
    let dialog = await open();
    expect(await dialog.getByLabel('Start vmdesk at login').isChecked()).toBe(false);
    await dialog.getByLabel('Start vmdesk at login').check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await dialog.getByLabel('Start vmdesk at login').scrollIntoViewIfNeeded();
    await look(win, 'preferences-login-item');
    expect(fs.readFileSync(entry, 'utf8')).toMatch(/^Exec=.* --hidden$/m);
    await dialog.getByRole('button', { name: 'Done' }).click();
    dialog = await open();
    expect(await dialog.getByLabel('Start vmdesk at login').isChecked()).toBe(true);
    await dialog.getByLabel('Start vmdesk at login').uncheck();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    expect(fs.existsSync(entry)).toBe(false);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('runs the renderer on window.vmdesk from the preload bundle, over IPC and not the web API', async () => {
    const { page } = win;
    await page.getByRole('button', { name: 'New VM' }).waitFor();
    const seen = await page.evaluate(() => {
      const w = window as unknown as ElectronGlobals;
      return {
        vmdesk: typeof w.vmdesk?.openStream,
        shell: typeof w.vmdeskShell?.pathForFile,
        frozen: Object.isFrozen(w.vmdesk),
        url: location.href,
      };
    });
    expect(seen).toMatchObject({ vmdesk: 'function', shell: 'function', frozen: true });
    expect(seen.url).not.toContain('token');
    // A method outside the contract is refused by the preload, with the contract's error.
    const refused = await page.evaluate(() =>
      (window as unknown as ElectronGlobals).vmdesk!.call('vm.format' as 'vm.list', {}).then(
        () => 'called',
        (e: Error & { code?: string }) => `${e.name} ${e.code}: ${e.message}`,
      ),
    );
    expect(refused).toBe('VmdeskError invalid-argument: Unknown method "vm.format".');
    expect(win.log).toEqual([]);
  });

  it('creates a VM and starts it from the window; its screen lights up in noVNC and its serial console answers', async () => {
    const { app } = win;
    await app.createVm({ name: 'tiny', memoryMiB: 128, diskGiB: 0, iso: guestIso(), accel: 'tcg' });
    await app.waitForState('tiny', 'stopped'); // pushed as vm.changed through webContents.send
    await app.select('tiny');
    await app.action('Start').click();
    await app.waitForState('tiny', 'running');
    vm = await (await win.link).call('vm.get', { vm: 'tiny' });

    await app.tab('Screen');
    await waitFor(async () => (await app.vncLitShare()) > 0.02, 'VGA text in the noVNC canvas', 120_000);
    await look(win, 'screen');
    expect(win.ports.some((p) => p.request.name === 'console.vnc' && p.postedBytes > 0)).toBe(true);

    await app.tab('Serial console');
    await app.waitForTerminalText(READY);
    await app.page.locator('[data-testid="serial-terminal"]').click();
    await app.page.keyboard.type('echo hello-$((6*7))\n');
    await app.waitForTerminalText('hello-42', 60_000);
    await look(win, 'serial');
    expect(fs.readFileSync(vm.paths!.serialLog, 'utf8')).toContain('hello-42');
    expect(win.pageErrors).toEqual([]);
  }, 240_000);

  it('opens the create wizard on a dropped ISO with the file’s own path (webUtils), and Create keeps that path', async () => {
    const { app, page } = win;
    const iso = guestIso();
    await win.addFile(iso);
    // The File's bytes do not matter in Electron: the path is used, nothing is uploaded.
    await app.dragFileOver(path.basename(iso), fs.readFileSync(iso).subarray(0, 4096).toString('base64'));
    await page.getByText('Drop the ISO to create a VM').waitFor();
    await app.dropDragged();
    const wizard = app.wizard();
    await wizard.getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 60_000 });
    expect(await wizard.locator('code.path').getAttribute('title')).toBe(iso);
    expect(await wizard.getByLabel('Name').inputValue()).toBe('VMDESK TESTGUEST');
    await look(win, 'wizard-dropped-iso');
    await wizard.getByRole('button', { name: 'Create', exact: true }).click();
    await wizard.waitFor({ state: 'detached', timeout: 60_000 });
    await app.waitForState('VMDESK TESTGUEST', 'stopped');
    const created = await (await win.link).call('vm.get', { vm: 'VMDESK TESTGUEST' });
    expect(created.definition?.cdroms).toEqual([iso]);
    // No copy in the ISO library: that is the browser's way (upload), not the window's.
    const library = path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos');
    expect(fs.existsSync(library) ? fs.readdirSync(library) : []).toEqual([]);

    // A File that is not on disk (dragged from another app) has no path: the wizard says what to do.
    await app.dragFileOver('elsewhere.iso', Buffer.from('x').toString('base64'));
    await app.dropDragged();
    await wizard.getByText('has no path on this computer').waitFor();
    await wizard.getByRole('button', { name: 'Close', exact: true }).last().click();
    await wizard.waitFor({ state: 'detached' });
  });

  it('opens the create wizard for an ISO given to a second launch (a shell event sent to the page)', async () => {
    const { app } = win;
    const iso = guestIso();
    fake.app.emit('second-instance', new FakeEvent(), [process.execPath, iso], REPO);
    const wizard = app.wizard();
    await wizard.getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 60_000 });
    expect(await wizard.locator('code.path').getAttribute('title')).toBe(iso);
    await wizard.getByRole('button', { name: 'Cancel', exact: true }).click();
    await wizard.waitFor({ state: 'detached' });
  });

  // A page "stops reading" only when it stops running: the preload acks what it hands to the
  // channel's onmessage, so a consumer that ignores its data still drains the port. The page's
  // event loop is blocked instead (a synchronous request this process answers later).
  it('keeps a flood within PORT_FLOW.windowBytes while the page does not read, then delivers all of it in order', async () => {
    const { page } = win;
    const link = await win.link;
    await win.app.tab('Overview');
    const known = win.ports.length;
    // The page's own viewer of the serial console, through window.vmdesk (the renderer's API).
    await page.evaluate((id) => {
      const chunks: Uint8Array[] = [];
      const ch = (window as unknown as ElectronGlobals).vmdesk!.openStream('console.serial', { vm: id });
      ch.onmessage = (ev: { data: ArrayBuffer }) => chunks.push(new Uint8Array(ev.data));
      (window as unknown as { flood: unknown }).flood = { chunks, ch };
    }, vm.id);
    const port = await vi.waitUntil(() => win.ports.slice(known).find((p) => p.request.name === 'console.serial'), {
      timeout: 10_000,
    });
    await vi.waitUntil(() => port.postedBytes > 0, { timeout: 30_000 }); // the console's history
    const before = port.postedBytes;

    // The page cannot type while it is blocked: a viewer in this process types the command.
    const typist = await link.openStream('console.serial', { vm: vm.id });
    typist.output.attach({ write: () => true, end: () => {} });
    const held = await win.whilePageBlocked(async () => {
      typist.input(new TextEncoder().encode(`seq 1 ${FLOOD_LINES}; echo FLOOD-END-$((6*7))\n`));
      await s.waitForFileText(vm.paths!.serialLog, 'FLOOD-END-42', 180_000);
      await waitFor(() => port.unacked >= PORT_FLOW.windowBytes, 'the port window to fill', 60_000);
      // The guest is done and the window is full: nothing more is posted until the page acks.
      const posted = port.postedBytes;
      await new Promise((r) => setTimeout(r, 1000));
      return { posted, after: port.postedBytes, unacked: port.unacked };
    });
    typist.close();
    expect(held.after).toBe(held.posted);
    expect(held.unacked).toBeGreaterThanOrEqual(PORT_FLOW.windowBytes);
    // Far less than the flood went out while the page was not reading.
    expect(held.posted - before).toBeLessThan(PORT_FLOW.windowBytes + port.largestMessage);

    // Read again: everything arrives, in order, and the port never ran past its window.
    const text = await page.waitForFunction(
      () => {
        const f = (window as unknown as { flood: { chunks: Uint8Array[] } }).flood;
        let s = '';
        for (const c of f.chunks) s += String.fromCharCode(...c);
        return s.includes('FLOOD-END-42') ? s : false;
      },
      undefined,
      { timeout: 120_000, polling: 500 },
    );
    const all = String(await text.jsonValue()).replace(/\r\n/g, '\n');
    const start = all.indexOf('FLOOD-END-$((6*7))\n');
    const end = all.indexOf('FLOOD-END-42');
    expect(start).toBeGreaterThan(0);
    const lines = all
      .slice(start + 'FLOOD-END-$((6*7))\n'.length, end)
      .trim()
      .split('\n');
    expect(lines.length).toBe(FLOOD_LINES);
    expect(lines.every((l, i) => l === String(i + 1))).toBe(true);
    console.log(
      `ports of the window (posted / most unacked / largest message, window ${PORT_FLOW.windowBytes}):\n  ` +
        win.ports
          .map((p) => `${String(p.request.name)}: ${p.postedBytes} / ${p.maxUnacked} / ${p.largestMessage}`)
          .join('\n  '),
    );
    for (const p of win.ports)
      expect(p.maxUnacked, `${String(p.request.name)}`).toBeLessThan(PORT_FLOW.windowBytes + p.largestMessage);
    expect(port.maxUnacked).toBeGreaterThanOrEqual(PORT_FLOW.windowBytes);
    await page.evaluate(() => (window as unknown as { flood: { ch: { close(): void } } }).flood.ch.close());
    await vi.waitUntil(() => port.closed, { timeout: 10_000 });
    expect(win.pageErrors).toEqual([]);
  }, 300_000);
});

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'the vGPU wizard in the Electron window (skipped without /usr/bin/chromium)',
  () => {
    it('takes a VM from no device to a configured vGPU through the bridge, with one fix prompt', async () => {
      const cleanups: (() => Promise<void> | void)[] = [];
      try {
        const host = buildSysfs(gvtgHost);
        cleanups.push(() => host.cleanup());
        const s0 = new Sandbox();
        cleanups.push(() => s0.cleanup());
        const pkexec = await makeFakePkexec(s0.root, host.root);
        const s = new Sandbox({
          VMDESK_SYSFS_ROOT: host.root,
          VMDESK_DEV_ROOT: host.root,
          VMDESK_ETC_ROOT: host.root,
          VMDESK_PKEXEC: pkexec.path,
        });
        cleanups.push(() => s.cleanup());
        expect((await s.run(['define', '--name', 'gvt-box', '--memory', '512M'])).code).toBe(0);
        // The owner is a `vmdesk driver` under a login session's 8 MiB memlock limit; the window
        // is its client, as when the app starts while another vmdesk owns the VMs.
        const mib8 = String(8 * 2 ** 20);
        await s.startDriver(undefined, ['prlimit', `--memlock=${mib8}:${mib8}`, '--']);
        const paths = pathsOf(s);
        const win = await openElectronWindow({
          paths,
          openLink: (layout) =>
            openDriver({
              paths,
              kind: 'app',
              host: createHostServices(paths),
              native: getNative(),
              programDir: layout.programDir,
            }),
          defer: (c) => cleanups.push(c),
        });
        expect((await win.link).mode).toBe('client');
        const { page } = win;
        await win.app.select('gvt-box');
        await page.getByRole('region', { name: 'Graphics: vGPU' }).getByText('No vGPU.').waitFor();
        await page.getByRole('button', { name: 'Add a vGPU…' }).click();
        const dialog = page.getByRole('dialog', { name: 'Graphics: vGPU for gvt-box' });
        await dialog.locator('label.choice').filter({ hasText: '0000:00:02.0' }).getByRole('radio').check();
        await dialog.getByRole('button', { name: 'Next' }).click();
        await dialog.getByRole('radio', { name: /GVTg_V5_8 / }).check();
        await dialog.getByRole('button', { name: 'Next' }).click();
        const create = dialog.locator('label.choice').filter({ hasText: 'Create a new device' });
        const uuid = /UUID ([0-9a-f-]{36})/.exec(await create.innerText())![1]!;
        await dialog.getByRole('button', { name: 'Next' }).click();
        const headline = dialog.getByRole('status').filter({ hasText: /problems? to fix|Ready/ });
        await headline.filter({ hasText: '2 problems to fix' }).waitFor();
        await dialog.getByRole('button', { name: 'Fix with administrator rights (2)' }).click();
        await headline.filter({ hasText: '1 problem to fix' }).waitFor();
        expect(fs.readFileSync(pkexec.log, 'utf8').trim().split('\n')).toHaveLength(1);
        expect(fs.readFileSync(pkexec.log, 'utf8')).toContain(
          `${path.join(REPO, 'resources/mdev-helper/vmdesk-mdev-helper')} apply-fix create,0000:00:02.0,i915-GVTg_V5_8,${uuid}`,
        );
        expect(fs.existsSync(host.at(`sys/bus/mdev/devices/${uuid}`))).toBe(true);
        await look(win, 'vgpu-after-fix');
        await dialog.getByRole('button', { name: 'Assign anyway' }).click();
        await dialog.getByText('“gvt-box” has a vGPU').waitFor();
        await dialog.getByRole('button', { name: 'Close' }).last().click();
        const card = page.getByRole('region', { name: 'Graphics: vGPU' });
        await card.getByRole('cell', { name: uuid, exact: true }).waitFor();
        await look(win, 'vgpu-assigned');
        const def = await s.json<VmSummary>(['info', 'gvt-box']);
        expect(def.definition?.mdevs).toEqual([expect.objectContaining({ uuid })]);
        expect(win.pageErrors).toEqual([]);
      } finally {
        for (const c of cleanups.reverse()) await c();
      }
    }, 120_000);
  },
);
