/// <reference lib="dom" />
/**
 * libvirt hosts from the window: the real `vmdesk web` (real driver, libvirt's own client library)
 * in Debian Chromium against the real libvirt daemon of qemu:///system (started by
 * `bash e2e/support/libvirt-env.sh start`, which `.ci/run` runs). A domain defined with virsh
 * appears under its host once the connection is added in the Connections dialog; it is started,
 * its serial console (libvirt's console stream) and screen (libvirt's VNC) work in the page, and
 * it is stopped. Screenshots go to artifacts/screenshots/libvirt-ui-*.png.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox, waitFor } from './support/cli.js';
import {
  failInCiWhenMissing,
  libvirtMissing,
  SSH_URI as SSH,
  SYSTEM_URI as SYSTEM,
  TestDomains,
  virsh,
} from './support/libvirt.js';
import { CHROMIUM, openPage, shot, shotOf, startWeb } from './support/web.js';

const READY = 'VMDESK-GUEST-READY';
const missing = fs.existsSync(CHROMIUM) ? libvirtMissing([SYSTEM]) : `no Chromium at ${CHROMIUM}`;
/** Why the SSH host is not there (on top of `missing`), or undefined when it is. */
const noSsh = missing ?? libvirtMissing([SSH]);
failInCiWhenMissing('libvirt in the window', missing);
failInCiWhenMissing('libvirt over SSH in the window', missing === undefined ? noSsh : undefined);

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** The list's part for one host: the section whose heading is the host's label. */
/** `vmdesk web` in its own sandbox (after `setup`), and a Chromium page on it. */
async function openWindow(setup: (s: Sandbox) => Promise<unknown> = async () => undefined): Promise<AppPage> {
  const s = new Sandbox();
  cleanups.push(() => s.cleanup());
  await setup(s);
  const web = await startWeb(s);
  cleanups.push(() => web.stop());
  return new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
}

/** Adds a connection in the Connections dialog (left open) and resolves with the host's label. */
async function addConnection(page: Page, uri: string): Promise<{ dialog: Locator; label: string }> {
  await page.getByRole('button', { name: 'Connections', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Connections' });
  return { dialog, ...(await connectInDialog(dialog, uri)) };
}

/** Types `uri` into the open Connections dialog's form, connects, and waits for its row to say connected. */
async function connectInDialog(dialog: Locator, uri: string): Promise<{ row: Locator; label: string }> {
  const form = dialog.getByRole('form', { name: 'Add connection' });
  await form.getByLabel('libvirt URI').fill(uri);
  await form.getByRole('button', { name: 'Connect', exact: true }).click();
  await form
    .getByRole('status')
    .filter({ hasText: /^Connected to / })
    .waitFor({ timeout: 60_000 });
  const row = dialog.getByRole('listitem').filter({ has: dialog.page().locator('code', { hasText: uri }) });
  await row.getByTestId('host-state').filter({ hasText: 'connected' }).waitFor();
  return { row, label: (await row.locator('.conn-name').innerText()).trim() };
}

const hostGroup = (page: Page, label: string) =>
  page.getByRole('navigation', { name: 'Virtual machines' }).getByRole('region', { name: label, exact: true });

describe.skipIf(missing !== undefined)(`libvirt in the window${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const tag = crypto.randomBytes(3).toString('hex');
  const name = `vmdesk-ui-${tag}`;
  let domains: TestDomains;

  beforeAll(() => {
    // A small TCG domain booting the test guest, with a serial pty and VNC graphics.
    domains = new TestDomains(`ui-${tag}`);
    domains.define(name);
  });
  afterAll(() => domains.cleanup());

  it('adds qemu:///system in the Connections dialog, shows the domain under its host, starts it, shows its serial console and screen, stops it', async () => {
    // One VM of this computer, so the list has both groups.
    const app = await openWindow((s) =>
      s.json(['define', '--name', 'local-one', '--memory', '128M', '--cdrom', guestIso()]),
    );
    const page = app.page;
    await app.vmItem('local-one').waitFor();
    // Only this computer: no host headings yet.
    expect(await page.getByRole('navigation', { name: 'Virtual machines' }).getByRole('region').count()).toBe(0);

    // The Connections dialog: this computer is listed; the URI is checked before anything is sent.
    await page.getByRole('button', { name: 'Connections', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Connections' });
    await dialog.getByRole('listitem', { name: 'This computer' }).waitFor();
    const form = dialog.getByRole('form', { name: 'Add connection' });
    await form.getByRole('button', { name: 'qemu+ssh://user@host/system' }).click();
    await form.getByRole('button', { name: 'Connect', exact: true }).click();
    await form
      .locator('.field-error')
      .filter({ hasText: 'Put the real user and host name in place of user@host' })
      .waitFor();

    // A host that refuses: libvirt's own words (ssh's), in the form. Not remembered.
    await form.getByLabel('libvirt URI').fill('qemu+ssh://root@127.0.0.1:1/system?no_verify=1');
    await form.getByLabel('Remember').uncheck();
    await form.getByRole('button', { name: 'Connect', exact: true }).click();
    const refused = form.getByRole('alert');
    await refused.waitFor({ timeout: 60_000 });
    expect(await refused.innerText()).toMatch(/refused|connect to host|Cannot recv data/i);
    await shotOf(dialog, 'libvirt-ui-connect-refused');
    // If the driver lists the failed attempt, it can be taken off the list.
    const failedRow = dialog.getByRole('listitem').filter({ hasText: '127.0.0.1:1' });
    if ((await failedRow.count()) > 0) {
      await failedRow.getByRole('button', { name: /^Remove / }).click();
      await failedRow.waitFor({ state: 'detached', timeout: 30_000 });
    }
    await refused.getByRole('button', { name: 'Dismiss' }).click();

    // The real one: qemu:///system, remembered (the checkbox is on by default).
    await form.getByLabel('Remember').check();
    const { row, label } = await connectInDialog(dialog, SYSTEM);
    await row.getByText(/libvirt \d+\.\d+/).waitFor();
    await row.getByText('connects at start').waitFor();
    await shotOf(dialog, 'libvirt-ui-connections');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });

    // The list by host: this computer first, then the libvirt host with the domain.
    const local = hostGroup(page, 'This computer');
    const host = hostGroup(page, label);
    await local.getByRole('option', { name: /local-one/ }).waitFor();
    await host.getByRole('option', { name: new RegExp(name) }).waitFor({ timeout: 60_000 });
    await host.getByTestId('host-state').filter({ hasText: 'connected' }).waitFor();
    const headings = await page
      .getByRole('navigation', { name: 'Virtual machines' })
      .getByRole('heading')
      .allInnerTexts();
    expect(headings.slice(0, 2)).toEqual(['This computer', label]);
    await app.waitForState(name, 'stopped');

    // A libvirt VM: its settings are libvirt's (read-only, with the virsh command), no Logs tab,
    // no Clone or Eject; start, stop and the consoles as for any VM.
    await app.select(name);
    const main = page.getByRole('main');
    await main.getByText(`on ${label} · libvirt domain ${name}`).waitFor();
    await page.getByRole('tab', { name: 'Settings', exact: true }).click();
    await main
      .getByText(`This VM is managed by libvirt on ${label}; change its settings with virsh edit ${name}.`)
      .waitFor();
    await main.getByText(`virsh -c ${SYSTEM} edit ${name}`).waitFor();
    expect(await page.getByRole('tab', { name: 'Logs' }).count()).toBe(0);
    expect(await main.getByRole('button', { name: 'Clone…' }).count()).toBe(0);
    expect(await main.getByRole('button', { name: 'Eject ISO' }).count()).toBe(0);
    await shot(page, 'libvirt-ui-settings');

    await app.action('Start').click();
    await app.waitForState(name, 'running');
    expect(virsh('domstate', name).trim()).toBe('running');

    // The serial console through libvirt's console stream: the boot marker, then a command.
    await app.tab('Serial console');
    await app.waitForTerminalText(READY, 150_000);
    await page.locator('[data-testid="serial-terminal"]').click();
    await page.keyboard.type('echo hello-$((6*7))\n');
    await app.waitForTerminalText('hello-42', 60_000);
    await shot(page, 'libvirt-ui-serial');

    // The screen through libvirt's VNC: the guest's text lights the canvas.
    await app.tab('Screen');
    await waitFor(async () => (await app.vncLitShare()) > 0.02, 'VGA text in the noVNC canvas', 90_000);
    await shot(page, 'libvirt-ui-screen');
    await shotOf(page.getByRole('navigation', { name: 'Virtual machines' }), 'libvirt-ui-list');

    await app.forceOff();
    await app.waitForState(name, 'stopped', 60_000);
    expect(virsh('domstate', name).trim()).toBe('shut off');

    // Disconnect: the host's VMs leave the list; the remembered host stays, with Reconnect.
    await page.getByRole('button', { name: 'Connections', exact: true }).click();
    await dialog.getByRole('button', { name: `Disconnect ${label}` }).click();
    await dialog.getByRole('button', { name: `Reconnect ${label}` }).waitFor({ timeout: 30_000 });
    await dialog.getByRole('button', { name: 'Done' }).click();
    await app.vmItem(name).waitFor({ state: 'detached', timeout: 30_000 });
    await host.getByTestId('host-state').filter({ hasText: 'disconnected' }).waitFor();
    await shotOf(page.getByRole('navigation', { name: 'Virtual machines' }), 'libvirt-ui-disconnected');
    await host.getByRole('button', { name: `Reconnect ${label}` }).click();
    await host.getByRole('option', { name: new RegExp(name) }).waitFor({ timeout: 60_000 });
    await app.waitForState(name, 'stopped');
  }, 480_000);

  it.skipIf(noSsh !== undefined)(
    `over qemu+ssh from the window: the domain under the SSH host, its serial console and its screen through the tunnel${noSsh ? ` (skipped: ${noSsh})` : ''}`,
    async () => {
      const app = await openWindow();
      const page = app.page;
      await page.getByText('No virtual machines yet.').first().waitFor();

      const { dialog, label } = await addConnection(page, SSH);
      await dialog.getByRole('button', { name: 'Done' }).click();
      await dialog.waitFor({ state: 'detached' });
      const host = hostGroup(page, label);
      await host.getByRole('option', { name: new RegExp(name) }).waitFor({ timeout: 60_000 });
      await hostGroup(page, 'This computer').getByText('No VMs on this computer.').waitFor();

      await app.select(name);
      await app.action('Start').click();
      await app.waitForState(name, 'running');
      await app.tab('Serial console');
      await app.waitForTerminalText(READY, 150_000);
      await page.locator('[data-testid="serial-terminal"]').click();
      await page.keyboard.type('echo over-ssh-$((6*7))\n');
      await app.waitForTerminalText('over-ssh-42', 60_000);
      await app.tab('Screen');
      await waitFor(async () => (await app.vncLitShare()) > 0.02, 'VGA text in the noVNC canvas', 90_000);
      await shot(page, 'libvirt-ui-ssh-screen');

      await app.forceOff();
      await app.waitForState(name, 'stopped', 60_000);
      expect(virsh('domstate', name).trim()).toBe('shut off');
    },
    480_000,
  );
});
