/**
 * Live thumbnails and search in the VM list: `vmdesk web` (real server, real driver, real QEMU
 * under TCG, the test guest) in Debian Chromium. A running VM's card shows its screen (the
 * guest's large READY marker on the VGA console) and keeps it fresh; while the VM is paused the
 * driver takes no picture (the card's time and the picture kept in the VM's state dir stay as
 * they were over more than two intervals); resumed, it updates again; stopped, the last picture
 * stays. The search box filters the list. Screenshots of the list in light and dark at 900 and
 * 1600 px go to artifacts/ and /tmp/shots-thumbs/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

/** The driver's rate limit (app/main/vm/screen-thumbs.ts THUMBNAIL_INTERVAL_MS). */
const INTERVAL_MS = 3_000;
const BOOT_MS = 240_000;
const SHOTS = '/tmp/shots-thumbs';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The card's picture: its time, and the share of its pixels that are lit (VGA text is grey on black). */
async function picture(card: Locator): Promise<{ takenAt: string | null; lit: number; width: number }> {
  const img = card.locator('[data-testid="vm-thumb"] img');
  if ((await img.count()) === 0) return { takenAt: null, lit: 0, width: 0 };
  return img.evaluate((el: HTMLImageElement) => {
    const takenAt = el.getAttribute('data-taken-at');
    if (!el.complete || el.naturalWidth === 0) return { takenAt, lit: 0, width: 0 };
    const c = document.createElement('canvas');
    c.width = el.naturalWidth;
    c.height = el.naturalHeight;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(el, 0, 0);
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! + data[i + 1]! + data[i + 2]! > 240) lit++;
    return { takenAt, lit: lit / (data.length / 4), width: el.naturalWidth };
  });
}

const mtime = (file: string) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0);

async function shots(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const scheme of ['light', 'dark'] as const)
    for (const width of [900, 1600]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: 760 });
      await sleep(300);
      const file = await shot(page, `${name}-${scheme}-${width}`);
      fs.copyFileSync(file, path.join(SHOTS, path.basename(file)));
    }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });
}

describe.skipIf(!fs.existsSync(CHROMIUM))('VM list thumbnails and search (skipped without /usr/bin/chromium)', () => {
  it("shows a running VM's screen on its card, takes none while it is paused, updates again once resumed, keeps the last one when it stops, and filters the list by the search box", async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    for (const name of ['alpha', 'beta-debian', 'gamma-windows'])
      await s.json(['define', '--name', name, '--memory', '192M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    const card = app.vmItem('alpha');
    await card.waitFor();
    // Never ran: no picture, the OS icon stands in.
    expect((await picture(card)).takenAt).toBeNull();

    const started = await s.json<VmSummary>(['start', 'alpha']);
    expect(started.state).toBe('running');
    const stored = path.join(path.dirname(started.paths!.driverLog), 'screen.png');
    await app.waitForState('alpha', 'running');

    // The guest's READY marker fills the VGA console: the picture has real, lit pixels.
    await expect
      .poll(async () => (await picture(card)).lit, { timeout: BOOT_MS, interval: 1000 })
      .toBeGreaterThan(0.01);
    const booted = await picture(card);
    expect(booted.width).toBe(240);
    expect(booted.lit).toBeLessThan(0.9);
    // And it keeps coming while the VM runs and its card is on screen.
    await expect.poll(async () => (await picture(card)).takenAt, { timeout: 60_000 }).not.toBe(booted.takenAt);
    expect(fs.existsSync(stored)).toBe(true);
    await shots(app.page, 'thumbnails-running');

    // Paused: no capture. The card's time and the stored picture stay put over > 2 intervals.
    expect((await s.run(['pause', 'alpha'])).code).toBe(0);
    await app.waitForState('alpha', 'paused');
    await sleep(INTERVAL_MS + 1000); // a capture that began just before the pause has landed
    const paused = await picture(card);
    const pausedFile = mtime(stored);
    await sleep(3 * INTERVAL_MS);
    expect((await picture(card)).takenAt).toBe(paused.takenAt);
    expect(mtime(stored)).toBe(pausedFile);
    expect(paused.lit).toBeGreaterThan(0.01);
    await shots(app.page, 'thumbnails-paused');

    // Resumed: pictures again.
    expect((await s.run(['resume', 'alpha'])).code).toBe(0);
    await app.waitForState('alpha', 'running');
    await expect.poll(async () => (await picture(card)).takenAt, { timeout: 60_000 }).not.toBe(paused.takenAt);
    await expect.poll(() => mtime(stored), { timeout: 60_000 }).toBeGreaterThan(pausedFile);

    // Stopped: the last picture stays, and no new one comes.
    expect((await s.run(['stop', 'alpha'])).code).toBe(0);
    await app.waitForState('alpha', 'stopped');
    await sleep(INTERVAL_MS + 1000);
    const last = await picture(card);
    expect(last.takenAt).not.toBeNull();
    expect(last.lit).toBeGreaterThan(0.01);
    await sleep(2 * INTERVAL_MS);
    expect((await picture(card)).takenAt).toBe(last.takenAt);
    await shots(app.page, 'thumbnails-stopped');
    // A page opened afresh shows it too (the driver read it back from the VM's state dir).
    await app.page.reload();
    await expect.poll(async () => (await picture(app.vmItem('alpha'))).takenAt, { timeout: 30_000 }).toBe(last.takenAt);

    // Search: by name, by OS word, by state; Escape clears.
    const names = () => app.vmList().locator('[role="option"] .vm-name').allInnerTexts();
    expect(await names()).toEqual(['alpha', 'beta-debian', 'gamma-windows']);
    const search = app.page.getByRole('searchbox', { name: 'Search VMs by name, OS or state' });
    await search.fill('gam');
    await expect.poll(names).toEqual(['gamma-windows']);
    await search.fill('debian');
    await expect.poll(names).toEqual(['beta-debian']);
    await search.fill('nothing-like-this');
    await app.page.getByText('No VM matches “nothing-like-this”.').waitFor();
    await search.press('Escape');
    await expect.poll(names).toEqual(['alpha', 'beta-debian', 'gamma-windows']);
    // Last used: alpha (its screen was seen last), then the others newest first; kept across a reload.
    const sort = app.page.getByRole('combobox', { name: 'Sort VMs by' });
    await sort.selectOption('lastUsed');
    await expect.poll(names).toEqual(['alpha', 'gamma-windows', 'beta-debian']);
    await app.page.reload();
    await expect.poll(() => sort.inputValue()).toBe('lastUsed');
    await expect.poll(names).toEqual(['alpha', 'gamma-windows', 'beta-debian']);
    await sort.selectOption('name');
    await expect.poll(names).toEqual(['alpha', 'beta-debian', 'gamma-windows']);
  }, 600_000);
});
