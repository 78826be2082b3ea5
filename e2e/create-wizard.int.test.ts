/**
 * Issue 5 end to end: drop an ISO on the window of `vmdesk web` (real Chromium, real upload,
 * real inspection, real QEMU under TCG) → the wizard → "Create and start" → the VM's screen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildFixtures } from '../app/main/iso/fixtures/build-fixtures.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox, waitFor } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

const READY = 'VMDESK-GUEST-READY';
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function open(s: Sandbox): Promise<AppPage> {
  const web = await startWeb(s);
  const page = await openPage(web.url, (c) => cleanups.push(c));
  await page.getByRole('button', { name: 'New VM' }).waitFor();
  return new AppPage(page);
}

function isoLibrary(s: Sandbox): string {
  return path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos');
}

describe.skipIf(!fs.existsSync(CHROMIUM))('create a VM by dropping an ISO (skipped without /usr/bin/chromium)', () => {
  it('uploads a dropped ISO, proposes a VM, and boots it with one click; Eject ISO takes the disc out', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const app = await open(s);
    // Slow the upload down (4 MiB/s, about 4 s for the 16 MB guest) so its progress can be seen.
    const cdp = await app.page.context().newCDPSession(app.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 4 * 2 ** 20,
    });

    await app.dragFileOver('guest.iso', fs.readFileSync(guestIso()).toString('base64'));
    await app.page.getByText('Drop the ISO to create a VM').waitFor();
    await shot(app.page, 'wizard-drop-overlay');
    await app.countClicks();
    await app.dropDragged();

    const wizard = app.wizard();
    await wizard.getByRole('progressbar', { name: 'Upload progress' }).waitFor();
    // Past 10 % and with a speed: the line a person would see most of the time.
    await app.page
      .getByTestId('upload-progress')
      .filter({ hasText: /[1-9]\d %\) · .+\/s$/ })
      .waitFor({ timeout: 30_000 });
    await shot(app.page, 'wizard-upload-progress');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });

    await wizard.getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 60_000 });
    expect(await wizard.getByLabel('Name').inputValue()).toBe('VMDESK TESTGUEST');
    // It boots both ways and OVMF is installed: UEFI, as virt-install proposes for new VMs.
    expect(await wizard.getByLabel('Firmware').inputValue()).toBe('uefi');
    await wizard.getByText('Not recognised: generic settings').waitFor();
    // The tiny guest needs little memory, and BIOS (its VGA text mode is what this test reads
    // in the noVNC canvas; UEFI's framebuffer console draws too little to tell); every other
    // value stays as proposed.
    await wizard.getByLabel('Memory (MiB)').fill('256');
    await wizard.getByLabel('Firmware').selectOption('bios');
    await shot(app.page, 'wizard-prefilled');
    await wizard.getByRole('button', { name: 'Create and start' }).click();
    await wizard.waitFor({ state: 'detached', timeout: 120_000 });
    expect(await app.clickCount()).toBe(1);

    await app.waitForState('VMDESK TESTGUEST', 'running');
    expect(await app.page.getByRole('tab', { name: 'Screen' }).getAttribute('aria-selected')).toBe('true');
    await waitFor(async () => (await app.vncLitShare()) > 0.02, 'VGA text in the noVNC canvas', 120_000);
    const vm = await s.json<VmSummary>(['info', 'VMDESK TESTGUEST']);
    expect(vm.definition).toMatchObject({
      memoryMiB: 256,
      firmware: 'bios',
      secureBoot: false,
      cdroms: [path.join(isoLibrary(s), 'guest.iso')],
    });
    await s.waitForFileText(vm.paths!.serialLog, READY, 180_000);
    await new Promise((r) => setTimeout(r, 1000)); // the VGA console is drawn a moment after the serial line
    await shot(app.page, 'wizard-created-running');
    expect(fs.readdirSync(isoLibrary(s))).toEqual(['guest.iso']);

    await app.page.getByRole('button', { name: 'Eject ISO', exact: true }).click();
    await app.tab('Overview');
    await app.page.getByRole('region', { name: 'Storage' }).getByText('Empty').waitFor();
    expect(await app.page.getByRole('button', { name: 'Eject ISO', exact: true }).isDisabled()).toBe(true);
    expect((await s.json<VmSummary>(['info', 'VMDESK TESTGUEST'])).definition?.cdroms).toEqual([null]);
    await app.forceOff();
    await app.waitForState('VMDESK TESTGUEST', 'stopped');

    // The same ISO again: the stored copy is reused (not written twice), the name is made unique.
    await app.dragFileOver('guest.iso', fs.readFileSync(guestIso()).toString('base64'));
    await app.dropDragged();
    await app.wizard().getByRole('button', { name: 'Create and start' }).waitFor({ timeout: 60_000 });
    expect(await app.wizard().getByLabel('Name').inputValue()).not.toBe('VMDESK TESTGUEST');
    expect(fs.readdirSync(isoLibrary(s))).toEqual(['guest.iso']);
    await app.wizard().getByRole('button', { name: 'Cancel', exact: true }).click();
    await app.wizard().waitFor({ state: 'detached' });
  }, 400_000);

  it('a data disc that does not boot: one warning, no "boots both ways", and Create (not Create and start)', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const app = await open(s);
    await app.dragFileOver('data.iso', fs.readFileSync(buildFixtures().data).toString('base64'));
    await app.dropDragged();
    const wizard = app.wizard();
    await wizard.getByText('Not bootable', { exact: true }).waitFor({ timeout: 60_000 });
    expect(await wizard.getByText(/not bootable/i).count()).toBe(2); // the Boot row and the one warning
    await wizard.getByText('This disc is not bootable (it has no El Torito boot entry)', { exact: false }).waitFor();
    await wizard.getByText('This disc does not boot with either firmware', { exact: false }).waitFor();
    expect(await wizard.getByText(/boots both ways/).count()).toBe(0);
    expect(await wizard.getByRole('button', { name: 'Create and start' }).count()).toBe(0);
    const create = wizard.getByRole('button', { name: 'Create', exact: true });
    expect(await create.evaluate((b) => b.classList.contains('btn-primary') && b === document.activeElement)).toBe(
      true,
    );
    await shot(app.page, 'wizard-data-disc');
    await create.click();
    await app.wizard().waitFor({ state: 'detached', timeout: 60_000 });
    const vms = await s.json<VmSummary[]>(['list']);
    expect(vms.map((v) => [v.name, v.state])).toEqual([[expect.any(String), 'stopped']]);
  });

  it('explains a dropped file that is not an ISO, creates nothing and keeps nothing', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const app = await open(s);
    await app.dragFileOver('x.iso', Buffer.from('These are my notes, not a disc.\n').toString('base64'));
    await app.dropDragged();
    const alert = app.wizard().getByRole('alert');
    await alert.filter({ hasText: 'is a text file, not an ISO disc image' }).waitFor({ timeout: 60_000 });
    await alert.getByText('the uploaded copy was deleted').waitFor();
    await shot(app.page, 'wizard-not-an-iso');
    expect(await s.json<VmSummary[]>(['list'])).toEqual([]);
    expect(fs.readdirSync(isoLibrary(s))).toEqual([]);
    await app.wizard().getByRole('button', { name: 'Close', exact: true }).last().click();
    await app.wizard().waitFor({ state: 'detached' });
  });
});
