/**
 * The rough edges a new user hits first, on the real thing: `vmdesk web` (real server, real
 * driver, real QEMU under TCG, the tiny test guest running qemu-ga) driven through Debian
 * Chromium at 900 px, the width where the toolbar used to wrap onto two rows.
 * - a start that fails shows its error, and deleting that VM takes the error with it;
 * - the New VM form says everything wrong with one submit (a name taken and too little memory);
 * - the toolbar stays one row and puts what does not fit in a More menu, run from the keyboard;
 * - the Overview says first what a user needs: the guest's IP once its agent reports it, the
 *   forwards with Copy buttons, and the files folded away.
 * Screenshots of the Overview and its toolbar at 900 and 1600 px, light and dark, are kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { freePort } from './support/ports.js';
import { ARTIFACTS, CHROMIUM, openPage, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** The VM toolbar of the main pane. */
const toolbarOf = (page: Page, vm: string): Locator =>
  page.getByRole('main').getByRole('group', { name: `Actions for ${vm}` });

/**
 * The tops of the toolbar's shown buttons, rounded: one value when it is one row. Buttons with no
 * box are not shown (for a moment after a resize, the groups on their way into More have none).
 */
async function rowsOf(toolbar: Locator): Promise<number[]> {
  const tops = await toolbar
    .locator(':scope > .toolbar-group > button, :scope > .menu-wrap > button')
    .evaluateAll((bs) =>
      bs.map((b) => b.getBoundingClientRect()).flatMap((r) => (r.height > 0 ? [Math.round(r.top)] : [])),
    );
  return [...new Set(tops)];
}

/** Overview and toolbar, in light and dark, at 900 and 1600 px wide (kept as test artifacts). */
async function shootWidths(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const colorScheme of ['light', 'dark'] as const)
    for (const width of [900, 1600]) {
      await page.emulateMedia({ colorScheme });
      await page.setViewportSize({ width, height: 900 });
      // The toolbar measures itself on resize: wait until it is one row again.
      await expect.poll(async () => (await rowsOf(toolbarOf(page, 'good'))).length).toBe(1);
      await page.getByRole('main').evaluate((m) => m.scrollTo(0, 0));
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${colorScheme}-${width}.png`) });
      await page
        .locator('.vm-head')
        .screenshot({ path: path.join(ARTIFACTS, `${name}-toolbar-${colorScheme}-${width}.png`) });
    }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 900, height: 900 });
}

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'the rough edges of a first session (skipped without /usr/bin/chromium)',
  () => {
    it('drops a deleted VM’s start error, validates the whole New VM form at once, folds the toolbar into More at 900 px, and shows the guest’s IP and forwards in the Overview', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      // A VM whose ISO is gone by the time it starts: its start fails, in the driver's words.
      const gone = path.join(s.root, 'gone.iso');
      fs.copyFileSync(guestIso(), gone);
      await s.json(['define', '--name', 'aaa-broken', '--memory', '128M', '--cdrom', gone]);
      fs.rmSync(gone);
      const port = await freePort();
      await s.json([
        'define',
        '--name',
        'good',
        '--memory',
        '128M',
        '--disk-size',
        '1G',
        '--cdrom',
        guestIso(),
        '--forward',
        `tcp:${port}:22`,
      ]);

      const web = await startWeb(s);
      const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
      const page = app.page;
      await page.setViewportSize({ width: 900, height: 900 });
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(web.url).origin });
      const banner = page.getByRole('main').locator('.main-error');

      // 1. The failed start shows, with the VM it is about.
      await app.select('aaa-broken');
      await app.action('Start').click();
      await banner.getByRole('alert').waitFor({ timeout: 60_000 });
      const said = await banner.innerText();
      expect(said).toMatch(/gone\.iso/);

      // 2. At 900 px the toolbar is one row; Delete is in More, reached from the keyboard.
      const toolbar = toolbarOf(page, 'aaa-broken');
      expect(await rowsOf(toolbar)).toHaveLength(1);
      const more = toolbar.getByRole('button', { name: 'More' });
      await more.focus();
      await page.keyboard.press('ArrowDown');
      const menu = toolbar.getByRole('menu', { name: 'More' });
      await menu.waitFor();
      expect(await menu.getByRole('menuitem', { name: /^Delete/ }).count()).toBe(1);
      // Escape closes it and gives the focus back to More.
      await page.keyboard.press('Escape');
      await menu.waitFor({ state: 'detached' });
      expect(await more.evaluate((b) => b === document.activeElement)).toBe(true);
      await page.keyboard.press('ArrowDown');
      await menu.waitFor();
      await page.keyboard.press('End');
      expect(await menu.getByRole('menuitem', { name: /^Delete/ }).evaluate((b) => b === document.activeElement)).toBe(
        true,
      );
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: /^Delete/ }).click();
      await dialog.waitFor({ state: 'detached' });

      // 3. The next VM is selected, and the deleted VM's error went with it.
      await page.getByRole('main').getByRole('heading', { name: 'good', level: 1 }).waitFor();
      expect(await banner.count()).toBe(0);
      expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['good']);

      // 4. The New VM form says both problems of one submit.
      await page.getByRole('button', { name: 'New VM' }).click();
      const form = page.getByRole('dialog', { name: 'New virtual machine' });
      await form.getByLabel('Name').fill('good');
      await form.getByLabel('Memory (MiB)').fill('8');
      await form.getByRole('button', { name: 'Create' }).click();
      await form.getByText('A VM named "good" already exists. Choose another name.').waitFor();
      await form.getByText('Give the VM at least 16 MiB of memory, e.g. 1024.').waitFor();
      expect(await form.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');
      expect(await form.getByLabel('Memory (MiB)').getAttribute('aria-invalid')).toBe('true');
      await form.screenshot({ path: path.join(ARTIFACTS, 'polish-new-vm-errors.png') });
      await form.getByRole('button', { name: 'Cancel' }).click();
      await form.waitFor({ state: 'detached' });
      expect(await s.json<VmSummary[]>(['list'])).toHaveLength(1);

      // 5. Start from the More-less part of the toolbar; Pause runs from the More menu.
      const goodBar = toolbarOf(page, 'good');
      await app.action('Start').click();
      await app.waitForState('good', 'running');
      const glance = page.getByRole('main').getByRole('region', { name: 'At a glance' });
      // The guest's IP, once qemu-ga in the guest reports it (pushed by the driver, no reload).
      await glance
        .getByRole('list', { name: 'Guest IP addresses' })
        .getByText('10.0.2.15')
        .waitFor({ timeout: 180_000 });
      await glance.getByRole('button', { name: 'Copy 10.0.2.15' }).waitFor();
      // The forward, with a Copy button that puts what to paste on the clipboard.
      const ssh = `ssh -p ${port} localhost`;
      await glance.getByRole('button', { name: `Copy ${ssh}` }).click();
      await glance
        .getByRole('button', { name: `Copy ${ssh}` })
        .filter({ hasText: 'Copied' })
        .waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(ssh);
      // The disk with its size (what the guest sees: the contract has no host usage yet).
      await glance.getByRole('list', { name: 'Disk sizes' }).getByText('1 GiB').waitFor();
      // The paths are there, folded away.
      const files = page.getByRole('main').locator('details.files-card');
      expect(await files.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
      expect(await files.getByText('QMP socket').isVisible()).toBe(false);
      await files.locator('summary').click();
      await files.getByText('QMP socket').waitFor();
      await files.locator('summary').click();

      await shootWidths(page, 'polish-overview');

      await expect.poll(async () => (await rowsOf(goodBar)).length).toBe(1);
      await goodBar.getByRole('button', { name: 'More' }).click();
      await goodBar.getByRole('menuitem', { name: /^Pause/ }).click();
      await app.waitForState('good', 'paused');
      await app.forceOff();
      await app.waitForState('good', 'stopped');
    }, 600_000);
  },
);
