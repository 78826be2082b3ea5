/**
 * Issue 20 in a browser: the app's keyboard shortcuts in `vmdesk web` (the real server, real
 * Debian Chromium, the real test guest under QEMU/TCG for the screen). The Electron menu shows
 * the same shortcuts and leaves them to this page (app/main/shell/app-menu.ts), so these are the
 * shortcuts of both modes, except New VM: Ctrl+N in the Electron window, Alt+N in a browser
 * (which keeps Ctrl+N for itself; Playwright's CDP key injection bypasses that reservation, so
 * these tests use the browser's chord, as a user must).
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox, waitFor } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function open(s: Sandbox): Promise<AppPage> {
  const web = await startWeb(s);
  cleanups.push(() => web.stop());
  const page = await openPage(web.url, (c) => cleanups.push(c));
  await page.getByRole('button', { name: 'New VM' }).waitFor();
  return new AppPage(page);
}

const names = async (s: Sandbox) => (await s.json<VmSummary[]>(['list'])).map((v) => v.name).sort();

/** What has the keyboard focus, as a short description for failure messages. */
const focused = (app: AppPage) =>
  app.page.evaluate(() => {
    const a = document.activeElement;
    return a
      ? `${a.tagName.toLowerCase()}${a.getAttribute('aria-label') ? ` "${a.getAttribute('aria-label')}"` : ''}`
      : 'none';
  });

const fullscreenElement = (app: AppPage) =>
  app.page.evaluate(() => {
    const el = document.fullscreenElement;
    return el ? `${el.tagName.toLowerCase()}.${el.className}` : null;
  });

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'keyboard shortcuts in vmdesk web (skipped without /usr/bin/chromium)',
  () => {
    it('opens the New VM form on Alt+N and the ISO picker on Ctrl+O, whose ISO goes to the wizard', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      // A VM that Delete could delete, selected: the form must keep Delete from reaching it.
      await s.json(['define', '--name', 'kept', '--memory', '128M', '--cdrom', guestIso()]);
      const app = await open(s);
      await app.select('kept');
      let fileChoosers = 0;
      app.page.on('filechooser', () => fileChoosers++);
      const settle = () =>
        app.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

      // A browser page never gets Ctrl+N in real use: Chrome reserves it for a new window
      // (BrowserCommandController::IsReservedCommandOrKey), Firefox too. Playwright's keys are
      // injected through CDP, which bypasses that, so a Ctrl+N here would prove nothing about a
      // user's browser: the page's New VM chord in a browser is Alt+N, and Ctrl+N is not it.
      await app.page.keyboard.press('Control+n');
      await settle();
      const form = app.page.getByRole('dialog', { name: 'New virtual machine' });
      expect(await form.count()).toBe(0);
      expect(await app.page.getByRole('button', { name: 'New VM' }).getAttribute('title')).toContain('(Alt+N)');
      await app.page.keyboard.press('Alt+n');
      await form.waitFor();
      await shot(app.page, 'shortcuts-alt-n');
      // In the open form, keys are the form's: Ctrl+O starts no second flow over it (a wrongly
      // handled Ctrl+O would open the file chooser), and Delete deletes no VM, in its text field
      // or on its buttons.
      await form.getByLabel('Name').fill('typed');
      await app.page.keyboard.press('Control+o');
      await app.page.keyboard.press('Delete');
      await form.getByRole('button', { name: 'Cancel' }).focus();
      await app.page.keyboard.press('Delete');
      await app.page.keyboard.press('Control+o');
      await settle();
      expect(fileChoosers).toBe(0);
      expect(await app.wizard().count()).toBe(0);
      expect(await app.page.getByRole('dialog', { name: 'Delete “kept”?' }).count()).toBe(0);
      expect(await form.getByLabel('Name').inputValue()).toBe('typed');
      expect(await names(s)).toEqual(['kept']);
      await app.page.keyboard.press('Escape');
      await form.waitFor({ state: 'detached' });

      const chooser = app.page.waitForEvent('filechooser', { timeout: 10_000 });
      await app.page.keyboard.press('Control+o');
      await (await chooser).setFiles(guestIso());
      // The real upload and inspection of the test guest's ISO: the wizard proposes a VM for it.
      await app.wizard().getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 60_000 });
      expect(await app.wizard().getByLabel('Name').inputValue()).toBe('VMDESK TESTGUEST');
      await shot(app.page, 'shortcuts-ctrl-o-wizard');
    });

    it('deletes the selected stopped VM on Delete after the confirmation, and never while one types', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      await s.json(['define', '--name', 'doomed', '--memory', '128M', '--cdrom', guestIso()]);
      await s.json(['define', '--name', 'kept', '--memory', '128M', '--cdrom', guestIso()]);
      const app = await open(s);

      // Typing in a text field (the log search): Delete deletes a character there, and only that.
      await app.select('doomed');
      await app.tab('Logs');
      const search = app.page.getByRole('searchbox', { name: 'Search the log' });
      await search.fill('qemu!');
      await search.press('ArrowLeft');
      await search.press('Delete');
      expect(await search.inputValue()).toBe('qemu');
      await shot(app.page, 'shortcuts-delete-in-text-field');
      await app.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      expect(await app.page.getByRole('dialog').count()).toBe(0);
      expect(await names(s)).toEqual(['doomed', 'kept']);

      // From the list (the row has the focus after a click): the confirmation, and only then the deletion.
      await app.select('doomed');
      await app.page.keyboard.press('Delete');
      const confirm = app.page.getByRole('dialog', { name: 'Delete “doomed”?' });
      await confirm.waitFor().catch(async (e: unknown) => {
        throw new Error(`${(e as Error).message} (focus: ${await focused(app)})`);
      });
      await shot(app.page, 'shortcuts-delete-confirm');
      expect(await names(s)).toEqual(['doomed', 'kept']);
      // Cancel keeps it; Delete asks again.
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await confirm.waitFor({ state: 'detached' });
      expect(await names(s)).toEqual(['doomed', 'kept']);
      await app.select('doomed');
      await app.page.keyboard.press('Delete');
      await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
      await app.vmItem('doomed').waitFor({ state: 'detached', timeout: 30_000 });
      await waitFor(async () => (await names(s)).length === 1, 'the driver to forget “doomed”', 30_000);
      expect(await names(s)).toEqual(['kept']);
    });

    it('does nothing on Delete for a running VM (its toolbar’s Delete is off too)', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      await s.json(['define', '--name', 'busy', '--memory', '160M', '--cdrom', guestIso()]);
      const app = await open(s);
      await app.select('busy');
      await app.action('Start').click();
      await app.waitForState('busy', 'running');
      await app.select('busy');
      await app.page.keyboard.press('Delete');
      // Give a wrong dialog every chance to show: the page answers a key within one frame.
      await app.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      expect(await app.page.getByRole('dialog').count()).toBe(0);
      expect(await names(s)).toEqual(['busy']);
      await app.forceOff();
      await app.waitForState('busy', 'stopped');
    });

    it('puts the VM’s screen in full screen on F11, from inside the screen too, and back', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      await s.json(['define', '--name', 'big', '--memory', '160M', '--cdrom', guestIso()]);
      const app = await open(s);
      await app.select('big');
      await app.action('Start').click();
      await app.waitForState('big', 'running');
      await app.tab('Screen');
      await app.page.locator('.conn-connected').waitFor({ timeout: 60_000 });

      // From the page (the Screen tab has the focus): the frame of the guest's screen, alone.
      await app.page.getByRole('tab', { name: 'Screen' }).focus();
      await app.page.keyboard.press('F11');
      await waitFor(async () => (await fullscreenElement(app)) !== null, 'full screen', 10_000);
      expect(await fullscreenElement(app)).toMatch(/^div\.vnc-frame/);
      await shot(app.page, 'shortcuts-f11-fullscreen');
      await app.page.keyboard.press('F11');
      await waitFor(async () => (await fullscreenElement(app)) === null, 'full screen to end', 10_000);

      // With the keyboard in the guest (noVNC takes every key on its canvas), F11 is still ours.
      await app.page.getByTestId('vnc-screen').click();
      await app.page.getByTestId('keyboard-grab').filter({ hasText: 'releases the keyboard' }).waitFor();
      await app.page.keyboard.press('F11');
      await waitFor(
        async () => (await fullscreenElement(app)) !== null,
        'full screen from the guest’s keyboard',
        10_000,
      );
      expect(await fullscreenElement(app)).toMatch(/^div\.vnc-frame/);
      // …while the guest's other keys stay the guest's: the New VM chord opens no form over it.
      await app.page.keyboard.press('Alt+n');
      await app.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      expect(await app.page.getByRole('dialog', { name: 'New virtual machine' }).count()).toBe(0);
      await app.page.keyboard.press('F11');
      await waitFor(async () => (await fullscreenElement(app)) === null, 'full screen to end', 10_000);
      await app.forceOff();
      await app.waitForState('big', 'stopped');
    });
  },
);
