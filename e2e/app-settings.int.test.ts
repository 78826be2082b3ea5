/**
 * The app settings end to end: real `vmdesk web`, real Chromium, the real driver and its log.
 * Preferences… changes the default firmware (the create wizard proposes it for the test guest's
 * ISO), the log level (the driver log stops taking call lines at once) and the web port (the next
 * `vmdesk web` listens there); all of it is in settings.json and still there after a restart.
 * VMDESK_ACCEL (set by the sandbox) decides the default accelerator: the dialog says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox, waitFor } from './support/cli.js';
import { freePort } from './support/ports.js';
import { CHROMIUM, openPage, startWeb } from './support/web.js';

const SHOTS = '/tmp/shots-settings';
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const preferences = (page: Page) => page.getByRole('dialog', { name: 'Preferences' });

async function openPreferences(page: Page) {
  await page.getByRole('button', { name: 'Preferences…' }).click();
  const dialog = preferences(page);
  await dialog.getByLabel('Default firmware').waitFor();
  return dialog;
}

/** What the create wizard proposes as firmware for the test guest's ISO (dropped on the page). */
async function proposedFirmware(app: AppPage): Promise<string> {
  await app.dragFileOver('guest.iso', fs.readFileSync(guestIso()).toString('base64'));
  await app.dropDragged();
  const wizard = app.wizard();
  await wizard.getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 90_000 });
  const firmware = await wizard.getByLabel('Firmware').inputValue();
  await wizard.getByRole('button', { name: 'Cancel', exact: true }).click();
  await wizard.waitFor({ state: 'detached' });
  return firmware;
}

describe.skipIf(!fs.existsSync(CHROMIUM))('app settings (skipped without /usr/bin/chromium)', () => {
  it('Preferences… changes the default firmware, the log level and the web port, and they survive a restart', async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const settingsJson = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'settings.json');
    const driverLog = path.join(s.env.XDG_STATE_HOME!, 'vmdesk', 'logs', 'driver.log');

    const web = await startWeb(s);
    const page = await openPage(web.url, (c) => cleanups.push(c));
    const app = new AppPage(page);
    await page.getByRole('button', { name: 'New VM' }).waitFor();
    // It boots both ways and OVMF is installed: vmdesk's own choice is UEFI.
    expect(await proposedFirmware(app)).toBe('uefi');

    await page.screenshot({
      path: path.join(SHOTS, 'top-bar-1280.png'),
      clip: { x: 0, y: 0, width: 1280, height: 120 },
    });
    let dialog = await openPreferences(page);
    // VMDESK_ACCEL=tcg (the sandbox's) wins over the file: read-only, and the dialog names it.
    expect(await dialog.getByLabel('Default accelerator').isDisabled()).toBe(true);
    await dialog.getByText('Set by VMDESK_ACCEL').waitFor();
    expect(await dialog.getByLabel('Default accelerator').inputValue()).toBe('tcg');
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-light.png') });
    await dialog.getByLabel('A new access token at every start').scrollIntoViewIfNeeded();
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-light-end.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-dark-end.png') });
    await dialog.getByLabel('Default firmware').scrollIntoViewIfNeeded();
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });

    // Every field is checked at once, and nothing is saved while one is wrong.
    await dialog.getByLabel('Size of each log (MiB)').fill('0');
    await dialog.getByLabel('Listen address').fill('my-laptop');
    await dialog.getByLabel('Port').fill('99999');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('The log cap must be between 0.0625 MiB (64 KiB) and 1024 MiB.').waitFor();
    await dialog
      .getByText('The listen address must be an IP address, like 127.0.0.1 or ::1, not "my-laptop".')
      .waitFor();
    await dialog.getByText('The web port must be a whole number from 1 to 65535').waitFor();
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-errors.png') });
    expect(fs.existsSync(settingsJson)).toBe(false);

    // At the default level (debug) the driver log takes every call.
    await waitFor(
      () => fs.existsSync(driverLog) && /call settings\.get/.test(fs.readFileSync(driverLog, 'utf8')),
      'a call line',
    );
    const port = await freePort();
    await dialog.getByLabel('Size of each log (MiB)').fill('4');
    await dialog.getByLabel('Listen address').fill('127.0.0.1');
    await dialog.getByLabel('Port').fill(String(port));
    await dialog.getByLabel('Default firmware').selectOption('bios');
    await dialog.getByLabel('Log level').selectOption('warn');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog
      .getByRole('status')
      .filter({ hasText: 'Saved; the web settings apply the next time vmdesk web starts, and the log size' })
      .waitFor();
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-saved.png') });
    expect(JSON.parse(fs.readFileSync(settingsJson, 'utf8'))).toEqual({
      version: 1,
      defaultFirmware: 'bios',
      logLevel: 'warn',
      logCapBytes: 4 * 2 ** 20,
      webPort: port,
    });
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });

    // The log level counts at once: calls (the CLI's, through this driver) are no longer logged.
    const logged = fs.readFileSync(driverLog, 'utf8').length;
    expect((await s.run(['list'])).code).toBe(0);
    expect((await s.run(['settings', 'get', 'logLevel'])).stdout).toBe('warn\n');
    expect(fs.readFileSync(driverLog, 'utf8').slice(logged)).not.toMatch(/call vm\.list|call settings\.get/);

    // The wizard proposes the default firmware.
    expect(await proposedFirmware(app)).toBe('bios');

    // A new `vmdesk web` (no --port) listens on the port set; the settings are still there.
    await web.stop();
    const again = await startWeb(s);
    expect(again.port).toBe(port);
    const page2 = await openPage(again.url, (c) => cleanups.push(c));
    await page2.getByRole('button', { name: 'New VM' }).waitFor();
    dialog = await openPreferences(page2);
    expect(await dialog.getByLabel('Default firmware').inputValue()).toBe('bios');
    expect(await dialog.getByLabel('Log level').inputValue()).toBe('warn');
    expect(await dialog.getByLabel('Port').inputValue()).toBe(String(port));
    expect(await dialog.getByLabel('Size of each log (MiB)').inputValue()).toBe('4');
    // The restarted driver keeps the level too: its calls are not logged.
    const before = fs.readFileSync(driverLog, 'utf8').length;
    expect((await s.run(['list'])).code).toBe(0);
    expect(fs.readFileSync(driverLog, 'utf8').slice(before)).not.toMatch(/call vm\.list/);
    // Back to the default through the CLI: the dialog shows it when opened again.
    expect((await s.run(['settings', 'set', 'defaultFirmware', 'default'])).stdout).toBe(
      'defaultFirmware = auto (the default)\n',
    );
    await dialog.getByRole('button', { name: 'Done' }).click();
    dialog = await openPreferences(page2);
    expect(await dialog.getByLabel('Default firmware').inputValue()).toBe('auto');
  }, 400_000);

  it('a damaged settings.json: the defaults, a note that says so, and the file moved aside (not lost) at Save', async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const settingsJson = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'settings.json');
    fs.mkdirSync(path.dirname(settingsJson), { recursive: true });
    fs.writeFileSync(settingsJson, '{"version": 1, "webPort": 8');
    const web = await startWeb(s);
    const page = await openPage(web.url, (c) => cleanups.push(c));
    await page.getByRole('button', { name: 'New VM' }).waitFor();
    const dialog = await openPreferences(page);
    await dialog.getByText(/settings\.json is not valid JSON .* so vmdesk uses the default settings/).waitFor();
    await dialog.screenshot({ path: path.join(SHOTS, 'preferences-damaged.png') });
    expect(await dialog.getByLabel('Port').inputValue()).toBe('');
    await dialog.getByLabel('Log level').selectOption('info');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText(/The damaged settings file was moved to .*settings\.json\.damaged/).waitFor();
    expect(fs.readFileSync(`${settingsJson}.damaged`, 'utf8')).toBe('{"version": 1, "webPort": 8');
    expect(JSON.parse(fs.readFileSync(settingsJson, 'utf8'))).toEqual({ version: 1, logLevel: 'info' });
  }, 120_000);

  it('webNewTokenEachStart: each `vmdesk web` start makes a new token; without it the token stays', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const token = (url: string) => new URL(url).hash;
    const first = await startWeb(s);
    await first.stop();
    const second = await startWeb(s);
    await second.stop();
    expect(token(second.url)).toBe(token(first.url));
    expect((await s.run(['settings', 'set', 'webNewTokenEachStart', 'on'])).code).toBe(0);
    const third = await startWeb(s);
    await third.stop();
    const fourth = await startWeb(s);
    await fourth.stop();
    expect(token(third.url)).not.toBe(token(second.url));
    expect(token(fourth.url)).not.toBe(token(third.url));
  }, 120_000);

  it('New VM starts from the default accelerator; Force off and Reboot ask until told not to; vmdesk web listens where Preferences say', async () => {
    // No VMDESK_ACCEL here: the file decides the accelerator (TCG: this host's KVM hangs guests).
    const s = new Sandbox({ VMDESK_ACCEL: undefined });
    cleanups.push(() => s.cleanup());
    const settingsJson = path.join(s.env.XDG_CONFIG_HOME!, 'vmdesk', 'settings.json');
    const driverLog = path.join(s.env.XDG_STATE_HOME!, 'vmdesk', 'logs', 'driver.log');
    const calls = (method: string) =>
      (fs.readFileSync(driverLog, 'utf8').match(new RegExp(`call ${method}\\b`, 'g')) ?? []).length;
    let web = await startWeb(s);
    expect(new URL(web.url).hostname).toBe('127.0.0.1');
    let page = await openPage(web.url, (c) => cleanups.push(c));
    const app = new AppPage(page);
    await page.getByRole('button', { name: 'New VM' }).waitFor();

    let dialog = await openPreferences(page);
    expect(await dialog.getByLabel('Default accelerator').isDisabled()).toBe(false);
    await dialog.getByLabel('Default accelerator').selectOption('tcg');
    await dialog.getByLabel('Listen address').fill('127.0.0.2');
    // A folder must be a whole path; the error says so and nothing is saved.
    await dialog.getByLabel('VM folder').fill('VMs');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('The VM folder must be an absolute path, like /home/you/VMs').waitFor();
    expect(fs.existsSync(settingsJson)).toBe(false);
    const vmFolder = path.join(s.root, 'VMs');
    await dialog.getByLabel('VM folder').fill(vmFolder + '/');
    expect(await dialog.getByLabel('Ask before Force off').isChecked()).toBe(true);
    expect(await dialog.getByLabel('Ask before Reboot').isChecked()).toBe(true);
    // In a browser there is no login item to set: the dialog says where it is.
    await dialog.getByText('Start at login is a setting of the desktop app').waitFor();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });

    // New VM proposes the default accelerator, and says where it comes from.
    await page.getByRole('button', { name: 'New VM' }).click();
    const form = page.getByRole('dialog', { name: 'New virtual machine' });
    await form.getByText('Chosen first from Preferences (Default accelerator).').waitFor();
    expect(await form.getByLabel('Accelerator').inputValue()).toBe('tcg');
    await form.getByLabel('Name').fill('asker');
    await form.getByLabel('Memory (MiB)').fill('256');
    await form.getByLabel('Disk size (GiB)').fill('1');
    await form.getByLabel('ISO path').fill(guestIso());
    await form.getByRole('button', { name: 'Create' }).click();
    await form.waitFor({ state: 'detached' });
    const info = JSON.parse((await s.run(['info', 'asker', '--json'])).stdout) as {
      id: string;
      definition: { accel: string; dataDir?: string; disks: { path: string }[] };
    };
    expect(info.definition.accel).toBe('tcg');
    // Its disk is in the VM folder of Preferences (the trailing slash dropped).
    const dataDir = path.join(vmFolder, `asker-${info.id.replace(/-/g, '').slice(0, 8)}`);
    expect(info.definition.dataDir).toBe(dataDir);
    expect(info.definition.disks[0]!.path).toBe(path.join(dataDir, 'disk0.qcow2'));
    await app.select('asker');
    await page.getByText('Files', { exact: true }).click();
    await page.getByText(dataDir, { exact: true }).waitFor();

    await app.action('Start').click();
    await app.waitForState('asker', 'running');
    await waitFor(() => calls('vm.start') === 1, 'the start in the driver log');

    // Reboot asks; Cancel does nothing.
    await app.action('Reboot').click();
    const ask = page.getByRole('dialog', { name: 'Reboot “asker”?' });
    await ask.getByText('like pressing a reset button').waitFor();
    await ask.getByRole('button', { name: 'Cancel' }).click();
    await ask.waitFor({ state: 'detached' });
    // Force off asks too; "Do not ask again" turns the question off in the settings.
    await app.action('Force off').click();
    const off = page.getByRole('dialog', { name: 'Force off “asker”?' });
    await off.getByLabel('Do not ask again').check();
    await off.screenshot({ path: path.join(SHOTS, 'confirm-force-off.png') });
    expect(calls('vm.reboot')).toBe(0);
    expect(calls('vm.stop')).toBe(0);
    await off.getByRole('button', { name: 'Force off', exact: true }).click();
    await app.waitForState('asker', 'stopped');
    await waitFor(
      () => JSON.parse(fs.readFileSync(settingsJson, 'utf8')).confirmForceOff === false,
      'the saved answer',
    );
    expect(calls('vm.stop')).toBe(1);
    expect(calls('vm.reboot')).toBe(0);

    // From now on Force off runs at once; Reboot still asks.
    await app.action('Start').click();
    await app.waitForState('asker', 'running');
    await app.action('Reboot').click();
    await page.getByRole('dialog', { name: 'Reboot “asker”?' }).getByRole('button', { name: 'Reboot' }).click();
    await waitFor(() => calls('vm.reboot') === 1, 'the reboot in the driver log');
    await app.action('Force off').click();
    await app.waitForState('asker', 'stopped');
    expect(await page.getByRole('dialog').count()).toBe(0);
    dialog = await openPreferences(page);
    expect(await dialog.getByLabel('Ask before Force off').isChecked()).toBe(false);
    expect(await dialog.getByLabel('Ask before Reboot').isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Done' }).click();

    // The next `vmdesk web` listens on the address set (no --listen).
    await web.stop();
    web = await startWeb(s);
    cleanups.push(() => web.stop());
    expect(new URL(web.url).hostname).toBe('127.0.0.2');
    page = await openPage(web.url, (c) => cleanups.push(c));
    await new AppPage(page).waitForState('asker', 'stopped');
  }, 400_000);
});
