/**
 * "Start with vmdesk", for real: the `vmdesk` CLI flags a VM, a long-running `vmdesk driver`
 * starts it under real QEMU (TCG) with the test guest, once per login session (a marker in
 * XDG_RUNTIME_DIR); one-shot CLI owners never autostart.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, pidAlive, Sandbox, waitFor } from './support/cli.js';
import { CHROMIUM, openPage, startWeb } from './support/web.js';
import { AppPage } from './pages/app-page.js';

/** Screenshots to look at (the Settings view's checkbox). */
const SHOTS = '/tmp/shots-autostart';

let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** SIGTERM, as a logout or `kill` ends it: the driver lets go of the VMs (they keep running). */
async function stopDriver(driver: ChildProcess): Promise<void> {
  if (driver.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => driver.once('exit', () => resolve()));
  driver.kill('SIGTERM');
  await exited;
}

describe('autostart', () => {
  it(
    'starts the flagged VM when a long-running driver starts, once per login session, and never from a CLI command',
    { timeout: 600_000 },
    async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const driverLog = path.join(s.env.XDG_STATE_HOME!, 'vmdesk', 'logs', 'driver.log');
      const marker = (runtime: string) => path.join(runtime, 'vmdesk', 'autostart.done');
      const states = async (env?: NodeJS.ProcessEnv) =>
        Object.fromEntries((await s.json<VmSummary[]>(['list'], env)).map((v) => [v.name, v.state]));

      await s.json(['define', '--name', 'auto', '--memory', '128M', '--cdrom', guestIso()]);
      await s.json(['define', '--name', 'plain', '--memory', '128M', '--cdrom', guestIso()]);
      const set = await s.run(['set', 'auto', '--autostart', 'on']);
      expect(set.stderr).toBe('');
      expect(set.stdout).toContain('starts with vmdesk');
      const info = await s.run(['info', 'auto']);
      expect(info.stdout).toMatch(/Autostart:\s+on \(started when the app/);
      expect((await s.run(['info', 'plain'])).stdout).toMatch(/Autostart:\s+off/);

      // One-shot CLI commands own the VMs for a moment: they start nothing and leave the session's
      // autostart to the long-running owner.
      expect(await states()).toEqual({ auto: 'stopped', plain: 'stopped' });
      expect(fs.existsSync(marker(s.env.XDG_RUNTIME_DIR!))).toBe(false);

      // The first long-running owner of this login session starts the flagged VM, not the other.
      let driver = await s.startDriver();
      await waitFor(async () => (await states()).auto === 'running', 'the flagged VM to be running', 180_000);
      const up = await s.json<VmSummary>(['info', 'auto']);
      expect(pidAlive(up.pid!)).toBe(true);
      expect((await states()).plain).toBe('stopped');
      expect(fs.existsSync(marker(s.env.XDG_RUNTIME_DIR!))).toBe(true);
      // It is the test guest, booting in that QEMU.
      await s.waitForFileText(up.paths!.serialLog, 'VMDESK-GUEST-READY', 300_000);

      // The user stops it; the driver restarts in the same session (same runtime dir): it stays stopped.
      expect((await s.run(['stop', 'auto'])).stdout).toContain('auto: stopped');
      await stopDriver(driver);
      driver = await s.startDriver();
      await waitFor(
        () => fs.readFileSync(driverLog, 'utf8').includes('autostart: done already in this login session'),
        'the driver to find the session marker',
        60_000,
      );
      expect(await states()).toEqual({ auto: 'stopped', plain: 'stopped' });
      await stopDriver(driver);

      // A new login session (a fresh, empty XDG_RUNTIME_DIR): started again.
      const fresh = path.join(s.root, 'r2');
      fs.mkdirSync(fresh, { mode: 0o700 });
      const env = { XDG_RUNTIME_DIR: fresh };
      driver = await s.startDriver(env);
      await waitFor(async () => (await states(env)).auto === 'running', 'the flagged VM to start again', 180_000);
      expect((await states(env)).plain).toBe('stopped');
      expect(fs.existsSync(marker(fresh))).toBe(true);
      await s.run(['stop', 'auto'], { env });
      await stopDriver(driver);
    },
  );

  it.skipIf(!fs.existsSync(CHROMIUM))(
    'is ticked in the Settings view of `vmdesk web`, and `vmdesk web` starts the VM at the next login session',
    { timeout: 600_000 },
    async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      await s.json(['define', '--name', 'desk', '--memory', '128M', '--cdrom', guestIso()]);
      let web = await startWeb(s);
      const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
      await app.select('desk');
      const form = await app.openSettings('desk');
      const box = form.getByRole('checkbox', { name: 'Start with vmdesk' });
      expect(await box.isChecked()).toBe(false);
      await form.getByText('once per login: a VM you stop stays stopped until you log in again').waitFor();
      await box.check();
      await form.getByRole('button', { name: 'Save', exact: true }).click();
      await app.page
        .getByRole('main')
        .getByRole('status')
        .filter({ hasText: /^Saved/ })
        .waitFor();
      fs.mkdirSync(SHOTS, { recursive: true });
      const general = form.locator('fieldset').filter({ hasText: 'General' }).first();
      await general.screenshot({ path: path.join(SHOTS, 'settings-general.png') });
      await app.page.screenshot({ path: path.join(SHOTS, 'settings-page.png') });
      expect((await s.run(['info', 'desk'])).stdout).toMatch(/Autostart:\s+on/);
      // Saved, not started: autostart happens only when a long-running owner starts.
      expect(await app.vmState('desk')).toMatch(/stopped/i);
      // Closed first: a page left open would try to reach the server that goes away next.
      await app.page.close();
      await web.stop();

      // Logout empties XDG_RUNTIME_DIR: the next `vmdesk web` is the session's first owner.
      fs.rmSync(path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk'), { recursive: true, force: true });
      web = await startWeb(s);
      await waitFor(
        async () => (await s.json<VmSummary>(['info', 'desk'])).state === 'running',
        '`vmdesk web` to start the flagged VM',
        180_000,
      );
      await web.stop();
    },
  );
});
