/**
 * Cloning from the window: `vmdesk web` (real server, real driver, real qemu-img) in Debian
 * Chromium. The dialog proposes a name, says what a linked clone means for the original, and the
 * new VM appears in the list by push (vm.changed). A full clone of a big disk shows its progress
 * (job.progress over the WebSocket) and Cancel leaves nothing of it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe.skipIf(!fs.existsSync(CHROMIUM))('cloning in the window (skipped without /usr/bin/chromium)', () => {
  it('makes a linked clone from the dialog, shows it in the list by push, and cancels a full clone of a big disk', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json(['define', '--name', 'orig', '--memory', '128M', '--disk-size', '64M', '--cdrom', guestIso()]);
    // Allocated, never written: no holes for cp to skip, so its full clone takes seconds to copy.
    const big = path.join(s.root, 'big.img');
    execFileSync('fallocate', ['-l', '2G', big]);
    await s.json(['define', '--name', 'big', '--memory', '128M', '--disk', big]);
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));

    await app.select('orig');
    await app.page.getByRole('main').getByRole('button', { name: 'Clone…' }).click();
    const dialog = app.page.getByRole('dialog', { name: 'Clone “orig”' });
    const name = dialog.getByLabel('Name of the new VM');
    expect(await name.inputValue()).toBe('orig (clone)');
    await dialog.getByLabel('Linked clone').check();
    await dialog.getByText('which then stay read-only for as long as the clone exists').waitFor();
    await shot(app.page, 'clone-dialog-linked');
    await name.fill('thin');
    await dialog.getByRole('button', { name: 'Make linked clone' }).click();
    await dialog.waitFor({ state: 'detached' });
    await app.vmItem('thin').waitFor();
    const thin = await s.json<VmSummary>(['info', 'thin']);
    expect(thin.definition!.disks[0]!.backing).toBe(
      (await s.json<VmSummary>(['info', 'orig'])).definition!.disks[0]!.path,
    );

    // A full clone of a 2 GiB disk: progress, then Cancel; nothing of it stays.
    const dataDir = path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'vms');
    const before = fs.readdirSync(dataDir).sort();
    await app.select('big');
    await app.page.getByRole('main').getByRole('button', { name: 'Clone…' }).click();
    const full = app.page.getByRole('dialog', { name: 'Clone “big”' });
    await full.getByRole('button', { name: 'Clone', exact: true }).click();
    await full
      .getByTestId('clone-progress')
      .filter({ hasText: /Copying vda \(big\.img\): .* of 2\.0 GiB/ })
      .waitFor();
    await shot(app.page, 'clone-dialog-progress');
    await full.getByRole('button', { name: 'Cancel clone' }).click();
    await full.getByText('Cancelled: nothing of the clone was kept.').waitFor();
    await shot(app.page, 'clone-dialog-cancelled');
    expect(fs.readdirSync(dataDir).sort()).toEqual(before);
    expect((await s.json<VmSummary[]>(['list'])).map((v) => v.name)).toEqual(['big', 'orig', 'thin']);
    await web.stop();
  });
});
