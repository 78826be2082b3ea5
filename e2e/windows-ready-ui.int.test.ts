/// <reference lib="dom" />
/**
 * Issue 17 from the window: `vmdesk web` (real server, real driver, real ISO inspection) in
 * Debian Chromium. A dropped Windows ISO gets UEFI with Secure Boot, a TPM and the devices
 * Windows has drivers for; a virtio-win disc in the ISO library is offered as a second CD-ROM;
 * Settings switches Secure Boot and the TPM of a running VM (pending) and a stopped one. The
 * Windows fixtures only look like installers (their boot images are dummies), so their VMs are
 * created, never started. What the page shows is checked against `vmdesk info --json`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Locator } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildFixtures, type FixtureName } from '../app/main/iso/fixtures/build-fixtures.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { ARTIFACTS, CHROMIUM, openPage, shot, startWeb } from './support/web.js';

/** Where the screenshots are looked at, besides the test artifacts. */
const SHOTS = process.env.VMDESK_SHOTS_DIR ?? ARTIFACTS;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

let fx: Record<FixtureName, string>;
beforeAll(() => {
  fx = buildFixtures();
});

function isoLibrary(s: Sandbox): string {
  return path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos');
}

/**
 * A tiny disc that passes for the virtio-win driver ISO (the driver goes by its file name and
 * volume id), put where the driver looks: the ISO library.
 */
function addVirtioWin(s: Sandbox): string {
  const dir = isoLibrary(s);
  fs.mkdirSync(dir, { recursive: true });
  const tree = path.join(s.root, 'virtio-win-tree');
  fs.mkdirSync(path.join(tree, 'viostor', 'w11', 'amd64'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'viostor', 'w11', 'amd64', 'viostor.inf'), '; not a driver\n');
  const iso = path.join(dir, 'virtio-win.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-V', 'virtio-win-0.1.262', '-J', '-R', '-o', iso, tree], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return iso;
}

async function open(s: Sandbox): Promise<AppPage> {
  const web = await startWeb(s);
  const page = await openPage(web.url, (c) => cleanups.push(c));
  await page.getByRole('button', { name: 'New VM' }).waitFor();
  return new AppPage(page);
}

/** Drops a fixture on the window and waits for the wizard's form. */
async function dropFixture(app: AppPage, name: FixtureName): Promise<Locator> {
  await app.dragFileOver(`${name}.iso`, fs.readFileSync(fx[name]).toString('base64'));
  await app.dropDragged();
  const wizard = app.wizard();
  await wizard.getByRole('button', { name: 'Create', exact: true }).waitFor({ timeout: 60_000 });
  return wizard;
}

/** Saves a screenshot of the page as a test artifact, and where the screenshots go. */
async function shots(app: AppPage, name: string): Promise<void> {
  await shot(app.page, name);
  if (SHOTS !== ARTIFACTS) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await app.page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  }
}

/**
 * Clicks Create (not start: the fixtures cannot boot) and returns the new VM as the driver has it.
 * The disk is made 1 GiB: the proposed 64 GiB may not fit on a test machine (the driver checks).
 */
async function create(s: Sandbox, app: AppPage, wizard: Locator): Promise<VmSummary> {
  const name = await wizard.getByLabel('Name').inputValue();
  await wizard.getByLabel('Disk size (GiB)').fill('1');
  await wizard.getByRole('button', { name: 'Create', exact: true }).click();
  await wizard.waitFor({ state: 'detached', timeout: 60_000 });
  await app.waitForState(name, 'stopped');
  return s.json<VmSummary>(['info', name]);
}

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'Windows-ready VMs from the window (skipped without /usr/bin/chromium)',
  () => {
    it('proposes UEFI with Secure Boot, a TPM, SATA and e1000e for Windows 11, and creates the VM with them', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const app = await open(s);
      const wizard = await dropFixture(app, 'windows11');

      expect(await wizard.getByLabel('Firmware').inputValue()).toBe('uefi-secure');
      expect(await wizard.getByLabel('TPM 2.0').isChecked()).toBe(true);
      await wizard.getByText('requires UEFI with Secure Boot and a TPM 2.0.').waitFor();
      const ready = wizard.getByRole('region', { name: 'Windows-ready' });
      await ready.getByText('SATA disk and Intel e1000e network card: Windows has drivers for them').waitFor();
      // No virtio-win.iso anywhere: it says where it looked (the ISO library among them).
      const drivers = ready.getByLabel('Virtio driver disc (optional)');
      expect(await drivers.inputValue()).toBe('');
      await ready.locator('code', { hasText: isoLibrary(s) }).waitFor();
      expect(await wizard.getByText('vmdesk does not provide yet').count()).toBe(0);
      await ready.scrollIntoViewIfNeeded();
      await shots(app, 'windows-ready-wizard-win11');

      // A driver disc path that is not a full path is refused next to its input, before the driver is asked.
      await drivers.fill('virtio-win.iso');
      await wizard.getByRole('button', { name: 'Create', exact: true }).click();
      await ready.locator('.field-error').filter({ hasText: 'Type the full path of the driver disc' }).waitFor();
      await drivers.fill('');

      const vm = await create(s, app, wizard);
      expect(vm.definition).toMatchObject({
        firmware: 'uefi',
        secureBoot: true,
        tpm: true,
        devices: { disk: 'sata', nic: 'e1000e' },
        clock: 'localtime',
        hyperv: true,
        memoryMiB: 4096,
        cpus: 2,
        os: { name: 'Microsoft Windows 11' },
        cdroms: [path.join(isoLibrary(s), 'windows11.iso')],
      });

      // The Overview says so.
      await app.select('Windows 11');
      await app.tab('Overview');
      const config = app.page.getByRole('main').getByRole('region', { name: 'Configuration' });
      await config.getByText('UEFI with Secure Boot', { exact: true }).waitFor();
      await config.getByText('TPM 2.0 (swtpm)', { exact: true }).waitFor();
      await config.getByText('SATA disks, Intel e1000e network card', { exact: true }).waitFor();
      // Stopped: no Guest card.
      expect(await app.page.getByRole('main').getByRole('region', { name: 'Guest' }).count()).toBe(0);
    }, 180_000);

    it('offers a virtio-win disc found in the ISO library as a second CD-ROM, with virtio devices; unticked, none', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const virtioWin = addVirtioWin(s);
      const app = await open(s);

      // Windows 10: Secure Boot, no TPM requirement, the driver disc ticked.
      let wizard = await dropFixture(app, 'windows10udf');
      expect(await wizard.getByLabel('Firmware').inputValue()).toBe('uefi-secure');
      expect(await wizard.getByLabel('TPM 2.0').isChecked()).toBe(false);
      const attach = wizard.getByRole('checkbox', { name: `Attach virtio drivers (${virtioWin}) as a second CD-ROM` });
      expect(await attach.isChecked()).toBe(true);
      const ready = wizard.getByRole('region', { name: 'Windows-ready' });
      await ready.getByText('Virtio disk and network card, the fastest').waitFor();
      await ready
        .getByText(/Windows Setup lists no disk until you click Load driver and pick viostor\\w10\\amd64/)
        .waitFor();
      await ready.scrollIntoViewIfNeeded();
      await shots(app, 'windows-ready-wizard-win10-drivers');
      const win10 = await create(s, app, wizard);
      expect(win10.definition).toMatchObject({
        firmware: 'uefi',
        secureBoot: true,
        tpm: false,
        devices: { disk: 'virtio', nic: 'virtio' },
        clock: 'localtime',
        cdroms: [path.join(isoLibrary(s), 'windows10udf.iso'), virtioWin],
      });

      // Windows 11 with the disc unticked: SATA and e1000e, one drive, although the disc was found.
      wizard = await dropFixture(app, 'windows11');
      const attach11 = wizard.getByRole('checkbox', { name: /^Attach virtio drivers/ });
      expect(await attach11.isChecked()).toBe(true);
      await attach11.uncheck();
      await wizard.getByText('SATA disk and Intel e1000e network card').waitFor();
      await wizard.getByRole('region', { name: 'Windows-ready' }).scrollIntoViewIfNeeded();
      await shots(app, 'windows-ready-wizard-win11-drivers-unticked');
      const win11 = await create(s, app, wizard);
      expect(win11.definition).toMatchObject({
        secureBoot: true,
        tpm: true,
        devices: { disk: 'sata', nic: 'e1000e' },
        cdroms: [path.join(isoLibrary(s), 'windows11.iso')],
      });
    }, 240_000);

    it('proposes plain UEFI, no TPM and no Windows part for a Linux disc that boots both ways', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const app = await open(s);
      const wizard = await dropFixture(app, 'debian12');
      expect(await wizard.getByLabel('Firmware').inputValue()).toBe('uefi');
      await wizard.getByText('The disc boots both ways; UEFI is the modern choice.').waitFor();
      expect(await wizard.getByLabel('TPM 2.0').isChecked()).toBe(false);
      expect(await wizard.getByRole('region', { name: 'Windows-ready' }).count()).toBe(0);
      const vm = await create(s, app, wizard);
      expect(vm.definition).toMatchObject({
        firmware: 'uefi',
        secureBoot: false,
        tpm: false,
        devices: { disk: 'virtio', nic: 'virtio' },
        clock: 'utc',
        hyperv: false,
      });
    }, 120_000);

    it('switches Secure Boot and the TPM of a running VM as pending changes, and of a stopped one at once', async () => {
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      await s.json(['define', '--name', 'sb', '--memory', '256M', '--firmware', 'uefi', '--cdrom', guestIso()]);
      const app = await open(s);
      await app.select('sb');
      await app.action('Start').click();
      await app.waitForState('sb', 'running');

      // Running: the test guest runs the real qemu-ga; once it answers, the Guest card shows the
      // guest's name and its address as the agent reports it (pushed, no reload).
      const guest = app.page.getByRole('main').getByRole('region', { name: 'Guest' });
      await guest.getByText('10.0.2.15').waitFor({ timeout: 180_000 });
      await guest.getByText('vmdesk-guest').waitFor();
      const agent = (await s.json<VmSummary>(['info', 'sb'])).guest;
      expect(agent?.connected).toBe(true);
      expect(agent?.info?.addresses.map((a) => a.address)).toContain('10.0.2.15');
      await shots(app, 'windows-ready-overview-guest-agent');

      const form = await app.openSettings('sb');
      const secureBoot = form.getByRole('checkbox', { name: 'Secure Boot' });
      const tpm = form.getByRole('checkbox', { name: 'TPM 2.0' });
      expect(await secureBoot.isChecked()).toBe(false);
      expect(await tpm.isChecked()).toBe(false);
      await secureBoot.check();
      await tpm.check();
      await form.getByText('Microsoft’s keys enrolled').waitFor();
      const main = app.page.getByRole('main');
      /** Saves the form and waits for the status that says it is saved. */
      const save = async (status: string | RegExp = /^Saved\.$/) => {
        await form.getByRole('button', { name: 'Save', exact: true }).click();
        await main.getByRole('status').filter({ hasText: status }).waitFor();
      };
      await save('Saved. The pending changes apply at the next start.');
      const pending = main.getByRole('list', { name: 'Pending changes' }).first();
      await pending.getByText('Secure Boot: off → on').waitFor();
      await pending.getByText('TPM: off → on').waitFor();
      let vm = await s.json<VmSummary>(['info', 'sb']);
      expect(vm.definition).toMatchObject({ firmware: 'uefi', secureBoot: true, tpm: true });
      expect(vm.pending).toEqual(expect.arrayContaining(['Secure Boot: off → on', 'TPM: off → on']));
      await main.getByText('Pending changes — they apply at the next start').first().scrollIntoViewIfNeeded();
      await shots(app, 'windows-ready-settings-pending');

      // Back to what runs: nothing pending.
      await secureBoot.uncheck();
      await tpm.uncheck();
      await save();
      expect(await main.getByRole('list', { name: 'Pending changes' }).count()).toBe(0);
      vm = await s.json<VmSummary>(['info', 'sb']);
      expect(vm.definition).toMatchObject({ secureBoot: false, tpm: false });
      expect(vm.pending ?? []).toEqual([]);

      await app.forceOff();
      await app.waitForState('sb', 'stopped');

      // Stopped: Secure Boot on at once; BIOS takes it off and cannot have it.
      await secureBoot.check();
      await save();
      expect((await s.json<VmSummary>(['info', 'sb'])).definition).toMatchObject({ secureBoot: true });
      await form.getByLabel('Firmware').selectOption('bios');
      expect(await secureBoot.isChecked()).toBe(false);
      expect(await secureBoot.isDisabled()).toBe(true);
      await form.getByText('BIOS has no Secure Boot: it goes off with UEFI.').waitFor();
      await save();
      expect((await s.json<VmSummary>(['info', 'sb'])).definition).toMatchObject({
        firmware: 'bios',
        secureBoot: false,
      });
      // A BIOS VM: the way to Secure Boot is to switch firmware in the same change.
      await form
        .getByText('Secure Boot is part of UEFI: choose UEFI as the firmware first.', { exact: false })
        .waitFor();
      await form.getByLabel('Firmware').selectOption('uefi');
      await secureBoot.check();
      await save();
      expect((await s.json<VmSummary>(['info', 'sb'])).definition).toMatchObject({
        firmware: 'uefi',
        secureBoot: true,
      });

      // The guest devices, stored as chosen.
      await form.getByLabel('Disk bus').selectOption('sata');
      await form.getByLabel('Network card').selectOption('e1000e');
      await form.getByLabel('Clock').selectOption('localtime');
      await form.getByRole('checkbox', { name: 'Hyper-V enlightenments' }).check();
      await save();
      expect((await s.json<VmSummary>(['info', 'sb'])).definition).toMatchObject({
        devices: { disk: 'sata', nic: 'e1000e' },
        clock: 'localtime',
        hyperv: true,
      });
      await form.getByText('Guest devices (advanced)').scrollIntoViewIfNeeded();
      await shots(app, 'windows-ready-settings-devices');
    }, 300_000);
  },
);
