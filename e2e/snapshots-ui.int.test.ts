/**
 * Snapshots from the window: `vmdesk web` (real server, real driver, real QEMU under TCG, the test
 * guest) in Debian Chromium. A live snapshot taken in the Snapshots tab shows the guest's screen
 * as its thumbnail; reverting to it brings back the guest's memory (a marker in its RAM, read on
 * its own shell); one in the middle of the tree is deleted and its child moves up; a snapshot of
 * the VM while off is reverted to from a running VM, which the confirmation says is forced off.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SnapshotInfo } from '../app/main/common/contract.js';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { attachVmdeskConsole, GuestShell } from './guest/guest-shell.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe.skipIf(!fs.existsSync(CHROMIUM))('snapshots in the window (skipped without /usr/bin/chromium)', () => {
  it('takes a snapshot in the Snapshots tab, shows its screen, reverts to it, deletes it from the middle of the tree, and forces a running VM off to revert to a snapshot of its disks', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json(['define', '--name', 'snap', '--memory', '192M', '--disk-size', '64M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    await app.select('snap');
    const main = await app.openSnapshots();
    await main.getByText('No snapshots yet').waitFor();

    await app.action('Start').click();
    await app.waitForState('snap', 'running');
    const link = await attachVmdeskConsole(s, 'snap');
    cleanups.push(() => link.close());
    const shell = new GuestShell(link);
    await shell.ready();
    await shell.check('dmesg -n 1');
    // The initramfs is the guest's root: /tmp/marker lives in its RAM only.
    await shell.check('echo first > /tmp/marker');

    // Take: the dialog proposes a name; the snapshot keeps the memory of the running VM.
    expect(await app.takeSnapshot({ description: 'marker is first' })).toBe('Snapshot 1');
    const first = app.snapshotNode('Snapshot 1');
    await first.getByText('With memory (running)').waitFor();
    await first.getByText('marker is first').waitFor();
    expect(await first.getAttribute('aria-current')).toBe('true');
    // Its thumbnail is the guest's screen at that moment, a real PNG the page decoded.
    const thumb = first.getByRole('img', { name: 'Screen of snap at “Snapshot 1”', exact: true });
    await thumb.waitFor();
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(320);
    expect(await app.snapshotOutline()).toEqual(['Snapshot 1', '  *']);
    await shot(app.page, 'snapshots-taken');
    // Clicked, it shows twice as large.
    await first.getByRole('button', { name: 'Show the screen at “Snapshot 1” larger' }).click();
    const screen = app.page.getByRole('dialog', { name: '“Snapshot 1”' });
    await screen.getByRole('img', { name: 'Screen of snap at “Snapshot 1”, large' }).waitFor();
    await shot(app.page, 'snapshots-screen');
    await app.page.keyboard.press('Escape');
    await screen.waitFor({ state: 'detached' });
    const listed = await s.json<SnapshotInfo[]>(['snapshot', 'list', 'snap']);
    expect(listed).toMatchObject([{ name: 'Snapshot 1', withMemory: true, state: 'running', current: true }]);

    // Revert: the confirmation says what is lost; the guest's memory comes back, still running.
    await shell.check('echo second > /tmp/marker');
    await first.getByRole('button', { name: 'Revert to Snapshot 1' }).click();
    const revert = app.page.getByRole('dialog', { name: 'Revert “snap” to “Snapshot 1”?' });
    await revert.getByText('What “snap” has in memory now: its open programs').waitFor();
    await revert.getByText('“snap” is then running, as it was on').waitFor();
    await shot(app.page, 'snapshots-revert-confirm');
    await revert.getByRole('button', { name: 'Revert', exact: true }).click();
    expect(await app.snapshotStatus(/^Reverted/)).toBe('Reverted to “Snapshot 1”: “snap” is running.');
    expect(await shell.check('cat /tmp/marker')).toBe('first');
    expect((await s.json<VmSummary>(['info', 'snap'])).state).toBe('running');

    // A second snapshot on top, then delete the first one, in the middle: its child moves up.
    await shell.check('echo third > /tmp/marker');
    expect(await app.takeSnapshot({ name: 'after' })).toBe('Snapshot 2');
    expect(await app.snapshotOutline()).toEqual(['Snapshot 1', '  after', '    *']);
    await first.getByRole('button', { name: 'Delete Snapshot 1' }).click();
    const del = app.page.getByRole('dialog', { name: 'Delete the snapshot “Snapshot 1”?' });
    await del.getByText('“after” stays, at the top of the tree. The VM itself does not change.').waitFor();
    await shot(app.page, 'snapshots-delete-confirm');
    await del.getByRole('button', { name: 'Delete snapshot', exact: true }).click();
    expect(await app.snapshotStatus(/^Deleted/)).toBe('Deleted “Snapshot 1”.');
    await first.waitFor({ state: 'detached' });
    expect(await app.snapshotOutline()).toEqual(['after', '  *']);
    expect(await s.json<SnapshotInfo[]>(['snapshot', 'list', 'snap'])).toMatchObject([
      { name: 'after', parent: null, current: true },
    ]);
    await shot(app.page, 'snapshots-deleted');

    // Rename and describe in place.
    await app.snapshotNode('after').getByRole('button', { name: 'Edit after' }).click();
    const edit = app.page.getByRole('form', { name: 'Edit after' });
    await edit.getByLabel('Name', { exact: true }).fill('marker third');
    await edit.getByLabel('Description', { exact: true }).fill('echo third > /tmp/marker');
    await edit.getByRole('button', { name: 'Save', exact: true }).click();
    expect(await app.snapshotStatus(/^Renamed/)).toBe('Renamed “after” to “marker third”.');
    await app.snapshotNode('marker third').getByText('echo third > /tmp/marker').waitFor();
    expect(await s.json<SnapshotInfo[]>(['snapshot', 'list', 'snap'])).toMatchObject([
      { name: 'marker third', description: 'echo third > /tmp/marker', current: true },
    ]);
    link.close();

    // Off, a snapshot keeps the disks alone (the dialog says so); reverting a running VM to it forces it off.
    await app.forceOff();
    await app.waitForState('snap', 'stopped');
    await main.getByRole('button', { name: 'Take snapshot…' }).click();
    const take = app.page.getByRole('dialog', { name: 'Take a snapshot of “snap”' });
    await take.getByText('“snap” is off, so the snapshot keeps its disks only').waitFor();
    await take.getByLabel('Name', { exact: true }).fill('off');
    await take.getByRole('button', { name: 'Take snapshot', exact: true }).click();
    expect(await app.snapshotStatus(/^Took/)).toBe('Took “off”.');
    await app.snapshotNode('off').getByText('Disks only', { exact: true }).first().waitFor();
    expect(await app.snapshotOutline()).toEqual(['marker third', '  off', '    *']);

    await app.action('Start').click();
    await app.waitForState('snap', 'running');
    await app.snapshotNode('off').getByRole('button', { name: 'Revert to off' }).click();
    const force = app.page.getByRole('dialog', { name: 'Revert “snap” to “off”?' });
    await force.getByText('“snap” is forced off first').waitFor();
    await shot(app.page, 'snapshots-revert-force-off');
    await force.getByRole('button', { name: 'Force off and revert' }).click();
    expect(await app.snapshotStatus(/^Reverted/)).toBe('Reverted to “off”: “snap” is stopped.');
    await app.waitForState('snap', 'stopped');
    expect((await s.json<SnapshotInfo[]>(['snapshot', 'list', 'snap'])).find((x) => x.current)?.name).toBe('off');
    await shot(app.page, 'snapshots-reverted-off');
    await web.stop();
  });

  it.skipIf(process.getuid?.() !== 0)(
    'shows the driver’s refusal in the Take snapshot dialog: too little space for a running VM’s memory (root: a tiny tmpfs)',
    async () => {
      // The VM's disk on a 48 MiB tmpfs: a live snapshot must write up to its 192 MiB of memory there.
      const tight = fs.mkdtempSync(path.join(os.tmpdir(), 'vmd-tight-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48M,mode=0700', 'tmpfs', tight]);
      cleanups.push(() => {
        execFileSync('umount', ['-l', tight]);
        fs.rmdirSync(tight);
      });
      const s = new Sandbox();
      cleanups.push(() => s.cleanup());
      const disk = path.join(tight, 'small.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
      await s.json(['define', '--name', 'tight', '--memory', '192M', '--disk', disk, '--cdrom', guestIso()]);
      await s.json(['start', 'tight']);
      const web = await startWeb(s);
      const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
      await app.select('tight');
      await app.waitForState('tight', 'running');
      await app.openSnapshots();
      await expect(app.takeSnapshot()).rejects.toThrow(
        /^Snapshot not taken: A snapshot of "tight" needs about \d+ MiB free \(its memory, and room for its disks to grow\), and \d+ MiB are free where its disks are\. Free space, or delete snapshots it no longer needs\.$/,
      );
      await shot(app.page, 'snapshots-refused-space');
      // The dialog stays open with the name typed, so the user can try again after freeing space.
      const dialog = app.page.getByRole('dialog', { name: 'Take a snapshot of “tight”' });
      expect(await dialog.getByLabel('Name', { exact: true }).inputValue()).toBe('Snapshot 1');
      expect(await s.json<SnapshotInfo[]>(['snapshot', 'list', 'tight'])).toEqual([]);
      await web.stop();
    },
  );

  it('takes a snapshot of a running VM’s disks alone once its guest agent answers (it freezes the file systems)', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json(['define', '--name', 'agent', '--memory', '256M', '--disk-size', '64M', '--cdrom', guestIso()]);
    await s.json(['start', 'agent']);
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    await app.select('agent');
    // The Guest card shows the agent's answer; from then on the dialog offers disks only.
    await app.page.getByRole('main').getByRole('region', { name: 'Guest' }).getByText('10.0.2.15').waitFor({
      timeout: 180_000,
    });
    await app.openSnapshots();
    await app.page.getByRole('main').getByRole('button', { name: 'Take snapshot…' }).first().click();
    const dialog = app.page.getByRole('dialog', { name: /^Take a snapshot of / });
    await dialog.getByText('The guest agent freezes the file systems of “agent” for a moment').waitFor();
    expect(await dialog.getByRole('radio', { name: /^Disks only/ }).isEnabled()).toBe(true);
    await dialog.getByRole('radio', { name: /^Disks only/ }).check();
    await shot(app.page, 'snapshots-disks-only-running');
    await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
    expect(await app.takeSnapshot({ name: 'frozen', disksOnly: true })).toBe('Snapshot 1');
    await app.snapshotNode('frozen').getByText('Disks only', { exact: true }).first().waitFor();
    const listed = await s.json<SnapshotInfo[]>(['snapshot', 'list', 'agent']);
    expect(listed).toMatchObject([{ name: 'frozen', withMemory: false, vmStateBytes: 0 }]);
    const log = fs.readFileSync((await s.json<VmSummary>(['info', 'agent'])).paths!.driverLog, 'utf8');
    expect(log).toMatch(/the guest agent froze \d+ file systems? for the snapshot/);
    await s.run(['stop', 'agent']);
  }, 400_000);

  it('converts a raw disk to qcow2 from the Snapshots tab, after which the VM takes snapshots', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const raw = path.join(s.root, 'flat.img');
    fs.writeFileSync(raw, Buffer.alloc(2 ** 20));
    await s.json(['define', '--name', 'flat', '--memory', '64M', '--disk', raw]);
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    await app.select('flat');
    const main = await app.openSnapshots();
    await main.getByText('is a raw image, which cannot hold snapshots').waitFor();
    await shot(app.page, 'snapshots-raw-disk');
    await main.getByRole('button', { name: 'Convert vda to qcow2' }).click();
    await main.getByText(`The raw file ${raw} is kept as it was`).waitFor();
    const vm = await s.json<VmSummary>(['info', 'flat']);
    expect(vm.definition!.disks[0]).toMatchObject({ format: 'qcow2', owned: true });
    expect(fs.existsSync(raw)).toBe(true);
    await main.getByText('is a raw image').waitFor({ state: 'detached' });
    await shot(app.page, 'snapshots-raw-converted');
    await web.stop();
  });
});
