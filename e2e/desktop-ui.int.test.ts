/// <reference lib="dom" />
/**
 * Desktop integration from the window: `vmdesk web` (real server, real driver, real QEMU under
 * TCG) driven through Debian Chromium. Settings stores shared folders, sound and the clipboard in
 * the definition (checked with `vmdesk info --json`); the Screen tab's USB menu lists what this
 * host's sysfs has, and "Paste to guest" follows the VM's clipboard setting.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { ARTIFACTS, CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** The USB devices sysfs lists that are not hubs (root hubs are "usbN", not "B-P"), as the menu should. */
function hostUsbDevices(): string[] {
  const root = '/sys/bus/usb/devices';
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((n) => /^\d+-[\d.]+$/.test(n))
    .filter((n) => {
      const cls = path.join(root, n, 'bDeviceClass');
      return !fs.existsSync(cls) || fs.readFileSync(cls, 'utf8').trim() !== '09';
    });
}

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'Desktop integration in the window (skipped without /usr/bin/chromium)',
  () => {
    it('saves a shared folder, sound and the clipboard; the Screen tab lists the host USB devices and follows the clipboard setting', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'vmd-share-'));
      cleanups.push(() => fs.rmSync(shared, { recursive: true, force: true }));
      await s.json(['define', '--name', 'desk', '--memory', '128M', '--cdrom', guestIso(), '--sound', 'on']);
      const web = await startWeb(s);
      const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
      await app.select('desk');

      // Settings: a shared folder (its tag proposed from the folder's name), sound off, clipboard on.
      const form = await app.openSettings('desk');
      const card = app.desktopCard();
      await card.getByLabel('Folder on the host').fill(shared);
      expect(await card.getByLabel('Tag', { exact: true }).inputValue()).toBe(path.basename(shared));
      await app.addShare({ path: shared, tag: 'work', readOnly: true });
      await card.getByRole('listitem').filter({ hasText: shared }).waitFor();
      await card.getByLabel('Sound').uncheck();
      await card.getByLabel('Shared clipboard').check();
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await card.screenshot({ path: path.join(ARTIFACTS, 'desktop-settings-card.png') });
      await form.getByRole('button', { name: 'Save', exact: true }).click();
      await app.page
        .getByRole('main')
        .getByRole('status')
        .filter({ hasText: /^Saved/ })
        .waitFor();

      const def = (await s.json<VmSummary>(['info', 'desk'])).definition!;
      expect(def.shares).toEqual([{ path: shared, tag: 'work', readOnly: true }]);
      expect(def.sound).toBe(false);
      expect(def.clipboard).toBe(true);

      // Running: the Screen tab's clipboard and USB menu.
      await app.action('Start').click();
      await app.waitForState('desk', 'running');
      await app.tab('Screen');
      await app.page.getByText('Connected', { exact: true }).waitFor();
      await expect.poll(() => app.pasteToGuest().isEnabled()).toBe(true);
      expect(await app.pasteToGuest().getAttribute('title')).toMatch(/spice-vdagent/);

      const menu = await app.openUsbMenu();
      const expected = hostUsbDevices();
      if (expected.length === 0) await menu.getByText('There are no USB devices on this host').waitFor();
      else expect(await menu.getByRole('menuitemcheckbox').count()).toBe(expected.length + 1); // + "Keep for next start"
      await menu.getByRole('menuitemcheckbox', { name: 'Keep for next start' }).waitFor();
      await shot(app.page, 'desktop-screen-usb-menu');
      await app.page.keyboard.press('Escape');

      // Clipboard off while it runs: stored at once, "Paste to guest" is off and says where to turn it on.
      await app.openSettings('desk');
      await app.desktopCard().getByLabel('Shared clipboard').uncheck();
      await app.page.getByRole('button', { name: 'Save', exact: true }).click();
      await app.page
        .getByRole('main')
        .getByRole('status')
        .filter({ hasText: /^Saved/ })
        .waitFor();
      expect((await s.json<VmSummary>(['info', 'desk'])).definition!.clipboard).toBe(false);
      await app.tab('Screen');
      await expect.poll(() => app.pasteToGuest().isDisabled()).toBe(true);
      expect(await app.pasteToGuest().getAttribute('title')).toMatch(/off for this VM.*Desktop integration/);
      await shot(app.page, 'desktop-screen-clipboard-off');
      await s.json(['stop', 'desk']).catch(() => undefined);
    }, 90_000);
  },
);
