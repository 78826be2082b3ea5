/// <reference lib="dom" />
/**
 * The Settings view's devices from the window: `vmdesk web` (real server, real driver, real QEMU
 * under TCG, the tiny guest) driven through Debian Chromium. What the page shows is checked
 * against the driver (`vmdesk info --json`) and against QEMU itself (/proc/PID/cmdline).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { CHROMIUM, openPage, shot, shotOf, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const card = (page: Page, name: 'Disks' | 'CD-ROM drives') => page.getByRole('main').getByRole('region', { name });

/** QEMU's own command line for a running VM. */
function argvOf(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

/** The -device values of an argv that start with `driver`. */
const devices = (argv: string[], driver: string) =>
  argv.filter((a, i) => argv[i - 1] === '-device' && a.startsWith(`${driver},`));

async function setUp(
  name: string,
  defineArgs: string[] = [],
  setup: (s: Sandbox) => Promise<void> = async () => undefined,
) {
  const s = new Sandbox();
  cleanups.push(() => s.cleanup());
  await s.json(['define', '--name', name, '--memory', '128M', '--cdrom', guestIso(), ...defineArgs]);
  await setup(s);
  const web = await startWeb(s);
  const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
  await app.select(name);
  return { s, app };
}

describe.skipIf(!fs.existsSync(CHROMIUM))(
  'Settings: disks, CD-ROM drives, boot order, firmware (skipped without /usr/bin/chromium)',
  () => {
    it('adds a new 64 MiB disk to a running VM: plugged in at once, shown as in use now, not pending', async () => {
      const { s, app } = await setUp('hot', ['--disk-size', '32M']);
      await app.action('Start').click();
      await app.waitForState('hot', 'running');
      await app.openSettings('hot');
      const disks = card(app.page, 'Disks');
      await disks.getByText('The running VM gets an added disk at once').waitFor();

      await disks.getByLabel('New disk size').fill('64 MiB');
      await disks.getByRole('button', { name: 'Add new disk' }).click();
      await disks
        .getByTestId('disks-status')
        .filter({ hasText: /^Added vdb/ })
        .waitFor();
      expect(await disks.getByTestId('disks-status').innerText()).toMatch(/: plugged into the running VM\.$/);
      const row = disks.locator('[data-testid="disk-row"][data-target="vdb"]');
      await row.getByText('In use now').waitFor();
      await row.getByText('Created by vmdesk').waitFor();

      // The driver stored it, and its running QEMU has it (nothing about it waits for a restart).
      const vm = await s.json<VmSummary>(['info', 'hot']);
      expect(vm.definition!.disks).toMatchObject([
        { target: 'vda', format: 'qcow2', owned: true },
        { target: 'vdb', format: 'qcow2', owned: true },
      ]);
      expect(fs.statSync(vm.definition!.disks[1]!.path).size).toBeGreaterThan(0);
      expect(vm.pending ?? []).toEqual([]);
      // The disk it booted with cannot go while it runs.
      expect(await disks.getByRole('button', { name: 'Remove vda' }).isDisabled()).toBe(true);
      await shotOf(disks, 'settings-disks-two');

      // Growing below the current size is refused in the driver's words; growing works live.
      await disks.getByRole('button', { name: 'Grow vdb' }).click();
      const grow = disks.getByRole('form', { name: 'Grow vdb' });
      await grow.getByLabel('New size of vdb').fill('16 MiB');
      await grow.getByRole('button', { name: 'Grow' }).click();
      await grow
        .locator('.field-error')
        .filter({ hasText: 'vdb of "hot" is 64 MiB; shrinking a disk is refused' })
        .waitFor();
      await grow.getByLabel('New size of vdb').fill('96 MiB');
      await grow.getByRole('button', { name: 'Grow' }).click();
      await disks
        .getByTestId('disks-status')
        .filter({ hasText: /^vdb grown to 96 MiB: the guest sees/ })
        .waitFor();

      // The confirmation before removing: the file goes only when asked, and only a file vmdesk made.
      await disks.getByRole('button', { name: 'Remove vdb' }).click();
      const confirm = app.page.getByRole('dialog', { name: 'Remove vdb from “hot”?' });
      await confirm.getByText('The guest is asked to let go of it now').waitFor();
      await confirm.getByLabel('Also delete the file').check();
      await confirm.getByRole('button', { name: 'Remove and delete' }).waitFor();
      await shotOf(confirm, 'settings-remove-disk');
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await confirm.waitFor({ state: 'detached' });

      // A change the running QEMU keeps until its next start: listed as pending, with the driver's
      // warning about memory close to the host's next to the field.
      const nearlyAll = Math.floor((os.totalmem() / 2 ** 20) * 0.85);
      const form = app.page.getByRole('form', { name: 'Settings of hot' });
      await form.getByLabel('Memory (MiB)').fill(String(nearlyAll));
      await form.getByRole('button', { name: 'Save', exact: true }).click();
      await app.page
        .getByRole('main')
        .getByRole('status')
        .filter({ hasText: /^Saved/ })
        .waitFor();
      await form
        .getByTestId('memory-notice')
        .filter({ hasText: /% of this host's/ })
        .waitFor();
      const pending = app.page.getByRole('main').getByRole('list', { name: 'Pending changes' });
      await pending.getByText(/^Memory: 128 MiB → /).waitFor();
      await app.page
        .getByRole('main')
        .getByText('“hot” is running', { exact: false })
        .or(pending)
        .first()
        .scrollIntoViewIfNeeded();
      await app.page.getByRole('tab', { name: 'Settings', exact: true }).scrollIntoViewIfNeeded();
      await shot(app.page, 'settings-running-pending');
      expect((await s.json<VmSummary>(['info', 'hot'])).pending).toEqual([
        expect.stringMatching(/^Memory: 128 MiB → /),
      ]);

      await app.forceOff();
      await app.waitForState('hot', 'stopped');
    });

    it('changes boot order and firmware of a stopped VM; its next start has the bootindex order and UEFI pflash', async () => {
      const { s, app } = await setUp('order');
      const form = await app.openSettings('order');
      await app.page.getByText('“order” is stopped: what you save here is used from its next start.').waitFor();

      // The network goes on and to the top, by keyboard: the Up button keeps the focus as it moves.
      const boot = form.getByRole('group', { name: 'Boot order' });
      await boot.getByRole('checkbox', { name: 'Network (PXE)' }).check();
      await boot.getByRole('button', { name: 'Move Network (PXE) up' }).focus();
      await app.page.keyboard.press('Enter');
      await expect
        .poll(() => app.page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
        .toBe('Move Network (PXE) up');
      await app.page.keyboard.press('Enter');
      expect(await boot.locator('li').evaluateAll((li) => li.map((l) => l.getAttribute('data-boot')))).toEqual([
        'network',
        'cdrom',
        'disk',
      ]);
      // The CD-ROM stays on, the disk goes off (this VM has none).
      await boot.getByRole('checkbox', { name: 'Disk' }).uncheck();

      await form.getByLabel('Firmware').selectOption('uefi');
      await form.getByText('Switching to UEFI gives the VM a fresh, empty UEFI variable store (NVRAM)').waitFor();
      await shot(app.page, 'settings-stopped');
      await form.getByRole('button', { name: 'Save', exact: true }).click();
      await app.page
        .getByRole('main')
        .getByRole('status')
        .filter({ hasText: /^Saved\.$/ })
        .waitFor();
      const saved = await s.json<VmSummary>(['info', 'order']);
      expect(saved.definition).toMatchObject({ boot: ['network', 'cdrom'], firmware: 'uefi' });
      expect(fs.existsSync(saved.definition!.nvram!)).toBe(true);

      await app.action('Start').click();
      await app.waitForState('order', 'running');
      const vm = await s.json<VmSummary>(['info', 'order']);
      const argv = argvOf(vm.pid!);
      expect(argv[argv.indexOf('-machine') + 1]).toMatch(/pflash0=fw-code,pflash1=fw-vars/);
      expect(devices(argv, 'virtio-net-pci')[0]).toMatch(/,bootindex=0$/);
      expect(devices(argv, 'ide-cd')[0]).toMatch(/,bootindex=1$/);
      await app.forceOff();
      await app.waitForState('order', 'stopped');
    });

    it('inserts an ISO into the second drive of a running VM from the window, ejects it, and takes a dropped ISO into the empty drive', async () => {
      const { s, app } = await setUp('discs', [], async (sb) => {
        await sb.json(['set', 'discs', '--cdrom-drives', '2']);
      });
      const drivers = path.join(s.root, 'drivers.iso');
      fs.copyFileSync(guestIso(), drivers);
      await app.action('Start').click();
      await app.waitForState('discs', 'running');
      await app.openSettings('discs');
      const cds = card(app.page, 'CD-ROM drives');
      const second = cds.locator('[data-testid="cdrom-row"][data-drive="1"]');
      await second.getByText('Empty').waitFor();
      await second.getByText('Changes now').waitFor();

      await cds.getByRole('button', { name: 'Insert an ISO into CD-ROM 2' }).click();
      const picker = app.page.getByRole('dialog', { name: 'Insert an ISO into CD-ROM 2' });
      await picker.getByRole('radio', { name: /Another file/ }).check();
      await picker.getByLabel('ISO path').fill(drivers);
      await shotOf(picker, 'settings-iso-picker');
      await picker.getByRole('button', { name: 'Insert' }).click();
      await picker.waitFor({ state: 'detached' });
      await cds
        .getByTestId('cdrom-status')
        .filter({ hasText: 'Inserted drivers.iso into CD-ROM 2: the guest sees it now.' })
        .waitFor();
      await second.getByText('drivers.iso').waitFor();
      let vm = await s.json<VmSummary>(['info', 'discs']);
      expect(vm.definition!.cdroms).toEqual([guestIso(), drivers]);
      expect(vm.pending ?? []).toEqual([]);
      await shotOf(cds, 'settings-cdroms-two');

      await cds.getByRole('button', { name: 'Eject CD-ROM 2' }).click();
      await cds
        .getByTestId('cdrom-status')
        .filter({ hasText: 'Ejected drivers.iso from CD-ROM 2: the guest sees an empty drive now.' })
        .waitFor();
      expect((await s.json<VmSummary>(['info', 'discs'])).definition!.cdroms).toEqual([guestIso(), null]);

      // An ISO dropped on the VM's row in the list: uploaded (browser), then into the empty drive.
      const b64 = fs.readFileSync(guestIso()).toString('base64');
      await app.page.evaluate(
        ([n, data]) => {
          const bin = atob(data);
          const bytes = new Uint8Array(bin.length);
          for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], n, { type: 'application/octet-stream' }));
          const row = Array.from(document.querySelectorAll('[role="option"]')).find((o) =>
            o.textContent?.includes('discs'),
          )!;
          for (const type of ['dragenter', 'dragover'])
            row.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
          (window as unknown as { vmdeskTestDrag?: DataTransfer }).vmdeskTestDrag = dt;
        },
        ['rescue.iso', b64] as const,
      );
      await app.page.getByTestId('drop-overlay').getByText('Drop to insert the ISO into “discs”').waitFor();
      await shot(app.page, 'settings-drop-on-vm');
      await app.page.evaluate(() => {
        const dt = (window as unknown as { vmdeskTestDrag?: DataTransfer }).vmdeskTestDrag!;
        const row = Array.from(document.querySelectorAll('[role="option"]')).find((o) =>
          o.textContent?.includes('discs'),
        )!;
        row.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      });
      await app.page
        .getByTestId('iso-drop-done')
        .filter({ hasText: 'Inserted rescue.iso into CD-ROM 2 of “discs”: the guest sees it now.' })
        .waitFor();
      await shotOf(cds, 'settings-cdroms-dropped');
      // The wizard did not open for it.
      expect(await app.wizard().count()).toBe(0);
      vm = await s.json<VmSummary>(['info', 'discs']);
      expect(vm.definition!.cdroms[0]).toBe(guestIso());
      expect(path.basename(vm.definition!.cdroms[1]!)).toBe('rescue.iso');
      expect(vm.definition!.cdroms[1]!.startsWith(path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos'))).toBe(true);

      await app.forceOff();
      await app.waitForState('discs', 'stopped');
    });
  },
);
