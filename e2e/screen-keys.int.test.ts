/**
 * The Screen tab's keyboard tools end to end: `vmdesk web` (real server, real driver, real QEMU
 * under TCG, the tiny guest booted under BIOS) driven through Debian Chromium. What the page
 * sends is checked inside the guest: its VGA console appends each line typed there to
 * /var/log/vga-typed, and /sys/class/tty/tty0/active names the console shown (e2e/guest/init);
 * both are read back on the guest's serial shell.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { attachVmdeskConsole, GuestShell } from './guest/guest-shell.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox, waitFor } from './support/cli.js';
import { ARTIFACTS, CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** Every printable ASCII character a US keyboard types with and without Shift, and a Tab. */
const LINE = 'Hello, World! ~`!@#$%^&*()_+-=[]{}\\|;:\'",.<>/? 0123456789 abcXYZ\tend';

/** The lines typed on the guest's VGA console so far. */
async function typedLines(shell: GuestShell): Promise<string[]> {
  const out = await shell.check('cat /var/log/vga-typed 2>/dev/null; true');
  return out === '' ? [] : out.split('\n');
}

async function waitForTyped(shell: GuestShell, lines: string[]): Promise<void> {
  let got: string[] = [];
  // QEMU replays a VNC client's keys 10 ms apart: the last ones land a little after the page sent them.
  await waitFor(
    async () => (got = await typedLines(shell)).length >= lines.length,
    `${lines.length} lines in /var/log/vga-typed`,
    60_000,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; it has ${JSON.stringify(got)}`);
  });
  expect(got).toEqual(lines);
}

const activeConsole = async (shell: GuestShell) => (await shell.check('cat /sys/class/tty/tty0/active')).trim();

describe.skipIf(!fs.existsSync(CHROMIUM))('the Screen tab’s keyboard (skipped without /usr/bin/chromium)', () => {
  it('types the clipboard into the guest’s console, stops typing when asked, hands the keyboard back on Ctrl+Alt+G, and sends Ctrl+Alt+F2 and F1', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json(['define', '--name', 'keys', '--memory', '192M', '--cdrom', guestIso()]);
    expect((await s.json<VmSummary>(['info', 'keys'])).definition?.firmware).toBe('bios');
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    // The real permission flow of the page's origin (http on localhost: a secure context).
    await app.page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await app.select('keys');
    await app.action('Start').click();
    await app.waitForState('keys', 'running');
    await app.tab('Screen');
    const link = await attachVmdeskConsole(s, 'keys');
    cleanups.push(() => link.close());
    const shell = new GuestShell(link);
    await shell.ready();
    await app.page.locator('.conn-connected').waitFor({ timeout: 60_000 });
    expect(await typedLines(shell)).toEqual([]);

    // Type text: the clipboard's text, one character (é) that no US key types, skipped and said so.
    await app.page.evaluate((t) => navigator.clipboard.writeText(t), `${LINE}é\n`);
    const dialog = await app.openTypeText();
    await dialog.getByRole('button', { name: 'Paste from clipboard' }).click();
    expect(await dialog.getByLabel('Text to type').inputValue()).toBe(`${LINE}é\n`);
    await dialog.getByText('1 character will be skipped').waitFor();
    await dialog.getByText('No key of a US keyboard types “é”').waitFor();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await shot(app.page, 'screen-type-text-dialog');
    const type = dialog.getByRole('button', { name: `Type ${LINE.length + 1} characters`, exact: true });
    await type.click();
    await dialog.waitFor({ state: 'detached', timeout: 60_000 });
    await waitForTyped(shell, [LINE]);

    // The screen has the keyboard after typing; Ctrl+Alt+G gives it back, and the guest gets no G.
    const grab = app.keyboardGrab();
    await grab.filter({ hasText: 'Ctrl+Alt+G releases the keyboard' }).waitFor();
    expect(await grab.getAttribute('aria-pressed')).toBe('true');
    await app.page.keyboard.type('kb');
    await app.page.keyboard.press('Control+Alt+KeyG');
    await grab.filter({ hasText: 'Keyboard released: click the screen' }).waitFor();
    expect(await grab.getAttribute('aria-pressed')).toBe('false');
    await app.page.keyboard.type('xx'); // released: these stay in the page
    await app.page.locator('[data-testid="vnc-screen"] canvas').first().click();
    await app.page.locator('[data-testid="keyboard-grab"][aria-pressed="true"]').waitFor();
    await app.page.keyboard.type('d');
    await app.page.keyboard.press('Enter');
    await waitForTyped(shell, [LINE, 'kbd']);

    // Stop typing: what was typed stays typed, nothing after it; the dialog stays open.
    const long = 'abcdefghij'.repeat(60);
    const again = await app.openTypeText();
    await again.getByLabel('Text to type').fill(long);
    await again.getByRole('button', { name: 'Type 600 characters', exact: true }).click();
    await again
      .getByRole('status')
      .filter({ hasText: /^Typed [1-9]\d+ of 600 characters/ })
      .waitFor();
    await shot(app.page, 'screen-type-text-progress');
    await again.getByRole('button', { name: 'Stop typing' }).click();
    const stopped = again.getByRole('status').filter({ hasText: /^Stopped after \d+ of 600 characters\.$/ });
    await stopped.waitFor();
    const typed = Number(/after (\d+)/.exec(await stopped.innerText())![1]);
    expect(typed).toBeLessThan(600);
    await again.getByLabel('Text to type').fill('\n');
    await again.getByRole('button', { name: 'Type 1 character', exact: true }).click();
    await again.waitFor({ state: 'detached', timeout: 60_000 });
    await waitForTyped(shell, [LINE, 'kbd', long.slice(0, typed)]);

    // Ctrl+Alt+F2 from the menu switches the guest to its second console, F1 back.
    expect(await activeConsole(shell)).toBe('tty1');
    const menu = await app.openSendKeyMenu();
    await menu.getByRole('menuitem', { name: 'Ctrl+Alt+Del' }).waitFor();
    await shot(app.page, 'screen-send-key-menu');
    await menu.getByRole('menuitem', { name: 'Ctrl+Alt+F2', exact: true }).click();
    await menu.waitFor({ state: 'detached' });
    await waitFor(async () => (await activeConsole(shell)) === 'tty2', 'the guest showing tty2', 30_000);
    await app.sendSpecialKey('Ctrl+Alt+F1');
    await waitFor(async () => (await activeConsole(shell)) === 'tty1', 'the guest showing tty1 again', 30_000);
    await shot(app.page, 'screen-after-typing');
    expect(fs.existsSync(path.join(ARTIFACTS, 'screen-send-key-menu.png'))).toBe(true);
  }, 400_000);
});
