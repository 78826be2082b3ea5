/**
 * The product end to end: `vmdesk web` (real server, real driver, real QEMU under TCG, the tiny
 * guest) driven through Debian Chromium. Screenshots of every main view go to artifacts/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, pidAlive, Sandbox, waitFor } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

const READY = 'VMDESK-GUEST-READY';
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function open(_s: Sandbox, web: { url: string }): Promise<{ app: AppPage }> {
  return { app: new AppPage(await openPage(web.url, (c) => cleanups.push(c))) };
}

describe.skipIf(!fs.existsSync(CHROMIUM))('vmdesk web in Chromium (skipped without /usr/bin/chromium)', () => {
  it('creates a VM, shows its screen and serial console, takes a command, and shows it stopped after ACPI shutdown', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const web = await startWeb(s);
    const { app } = await open(s, web);
    await app.page.getByRole('button', { name: 'New VM' }).waitFor();
    await shot(app.page, 'empty-state');

    await app.createVm({ name: 'tiny', memoryMiB: 256, diskGiB: 0, iso: guestIso(), accel: 'tcg' });
    await app.waitForState('tiny', 'stopped');
    await app.select('tiny');
    await shot(app.page, 'overview-stopped');

    await app.action('Start').click();
    await app.waitForState('tiny', 'running');

    await app.tab('Serial console');
    await app.waitForTerminalText(READY);
    await app.page.locator('[data-testid="serial-terminal"]').click();
    await app.page.keyboard.type('echo hello-$((6*7))\n');
    await app.waitForTerminalText('hello-42', 60_000);
    await shot(app.page, 'serial-console');

    await app.tab('Screen');
    // The guest prints its marker in large text on the VGA console: lit pixels show it arrived.
    await waitFor(async () => (await app.vncLitShare()) > 0.02, 'VGA text in the noVNC canvas', 60_000);
    await shot(app.page, 'screen');

    await app.tab('Logs');
    await app.page.locator('[data-testid="log-view"]').waitFor();
    await shot(app.page, 'logs');

    await app.tab('Overview');
    // This host's QEMU has seccomp: the Overview says the guest's QEMU runs sandboxed, no warning.
    await app.page.getByRole('region', { name: 'Process' }).getByText('On (seccomp)').waitFor();
    expect(await app.page.getByText('QEMU runs without its sandbox').count()).toBe(0);
    await shot(app.page, 'overview-running');

    await app.page.getByRole('button', { name: 'Host' }).click();
    await app.page.getByText(/TCG/).first().waitFor();
    await shot(app.page, 'host');
    await app.page.keyboard.press('Escape');

    await app.action('Shut down').click();
    await app.waitForState('tiny', 'stopped', 120_000); // pushed by vm.changed, no reload
    const vm = await s.json<VmSummary>(['info', 'tiny']);
    expect(vm.state).toBe('stopped');
    expect(fs.readFileSync(vm.paths!.serialLog, 'utf8')).toContain('hello-42');
    await shot(app.page, 'stopped');
  });

  it('reconnects after the web server restarts while a VM runs, and replays the serial history', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json<VmSummary>(['define', '--name', 'keeper', '--memory', '256M', '--cdrom', guestIso()]);
    let web = await startWeb(s);
    const { app } = await open(s, web);
    await app.select('keeper');
    await app.action('Start').click();
    await app.waitForState('keeper', 'running');
    const before = await s.json<VmSummary>(['info', 'keeper']);
    await s.waitForFileText(before.paths!.serialLog, READY);

    await web.stop();
    await app.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor({ timeout: 30_000 });
    await shot(app.page, 'reconnecting');
    expect(pidAlive(before.pid!)).toBe(true);

    web = await startWeb(s, ['--port', String(web.port)]);
    await app.page
      .getByRole('status')
      .filter({ hasText: 'Reconnecting' })
      .waitFor({ state: 'detached', timeout: 60_000 });
    expect(await app.vmState('keeper')).toBe('running');
    const after = await s.json<VmSummary>(['info', 'keeper']);
    expect(after.pid).toBe(before.pid);

    await app.tab('Serial console');
    await app.waitForTerminalText(READY); // history from before the restart
    await app.forceOff();
    await app.waitForState('keeper', 'stopped');
  });

  it('stays usable while the guest floods its serial console', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json<VmSummary>(['define', '--name', 'noisy', '--memory', '192M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    const { app } = await open(s, web);
    await app.select('noisy');
    await app.action('Start').click();
    await app.waitForState('noisy', 'running');
    await app.tab('Serial console');
    await app.waitForTerminalText('/ #');
    await app.page.locator('[data-testid="serial-terminal"]').click();
    await app.page.keyboard.type(
      'yes "flood xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" | head -c 1000000; echo FLOOD-$((40+2))\n',
    );
    // While the flood runs: other views open and answer, the toolbar works.
    await app.tab('Overview');
    await app.page.getByText('CONFIGURATION', { exact: false }).first().waitFor();
    await app.tab('Logs');
    await app.page.locator('[data-testid="log-view"]').waitFor();
    await app.tab('Serial console');
    await app.waitForTerminalText('FLOOD-42', 300_000);
    await shot(app.page, 'serial-after-flood');
    await app.forceOff();
    await app.waitForState('noisy', 'stopped');
  }, 600_000);
});

describe.skipIf(!fs.existsSync(CHROMIUM))('a broken VM in the window (skipped without /usr/bin/chromium)', () => {
  it('can be deleted from the window, its data folder only when asked', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const wreck = await s.json<VmSummary>(['define', '--name', 'wreck', '--memory', '128M', '--disk-size', '1M']);
    fs.writeFileSync(wreck.file, '{ "version": 1, "name": '); // cut off mid-write by hand
    const dataDir = path.dirname(wreck.definition!.disks[0]!.path);
    const web = await startWeb(s);
    const { app } = await open(s, web);
    await app.waitForState(wreck.id.slice(0, 8), 'broken');
    await app.select(wreck.id.slice(0, 8));
    await app.action('Delete').click();
    const dialog = app.page.getByRole('dialog');
    const folder = dialog.getByLabel(/Also delete the VM’s data folder/);
    expect(await folder.isChecked()).toBe(false);
    await folder.check();
    await shot(app.page, 'delete-broken-vm');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await app.vmItem(wreck.id.slice(0, 8)).waitFor({ state: 'detached' });
    expect(fs.existsSync(wreck.file)).toBe(false);
    expect(fs.existsSync(dataDir)).toBe(false);
  });
});

describe.skipIf(!fs.existsSync(CHROMIUM))('VM settings in the window (skipped without /usr/bin/chromium)', () => {
  it('changes memory and CPUs of a stopped VM in Settings; the next start’s QEMU has the new -m and -smp; a rename is pushed', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json(['define', '--name', 'tuned', '--memory', '128M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    const { app } = await open(s, web);
    await app.select('tuned');
    expect(await app.saveSettings('tuned', { memoryMiB: 256, cpus: 2 })).toMatch(/^Saved/);
    await shot(app.page, 'settings-saved-real');
    await app.action('Start').click();
    await app.waitForState('tuned', 'running');
    const vm = await s.json<VmSummary>(['info', 'tuned']);
    const argv = fs.readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0');
    expect(argv[argv.indexOf('-m') + 1]).toBe('size=256M');
    expect(argv[argv.indexOf('-smp') + 1]).toBe('2');
    // A rename from the terminal reaches the open window by push, no reload.
    await s.json(['set', 'tuned', '--name', 'tuned twice']);
    await app.vmItem('tuned twice').waitFor();
    await app.forceOff();
    await app.waitForState('tuned twice', 'stopped');
  });
});
