/**
 * Port forwards from the window: `vmdesk web` (real server, real driver, real QEMU under TCG, the
 * tiny guest) driven through Debian Chromium. A forward added in the Overview makes QEMU's user
 * network listen on the host at once; removing it closes the port. The guest has no NIC driver,
 * so what is checked is the host side: QEMU accepts the TCP connection (it does so before asking
 * the guest), and refuses it once the forward is gone.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, Sandbox } from './support/cli.js';
import { accepts, freePort, listenAnywhere } from './support/ports.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe.skipIf(!fs.existsSync(CHROMIUM))('port forwards in the window (skipped without /usr/bin/chromium)', () => {
  it('adds a forward to a running VM in the Overview, the host port accepts at once; removing it closes the port; one added while stopped listens from the next start', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.json(['define', '--name', 'fwd', '--memory', '128M', '--cdrom', guestIso()]);
    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    await app.page
      .context()
      .grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(web.url).origin });
    await app.select('fwd');
    const card = app.forwardsCard();
    await card.getByText('a forward you add listens from its next start').waitFor();

    await app.action('Start').click();
    await app.waitForState('fwd', 'running');
    await card.getByText('The VM is running: a forward you add listens at once.').waitFor();

    const port = await freePort();
    expect(await accepts(port)).toBe(false);
    expect(await app.addForward({ hostPort: port, guestPort: 22 })).toBe(
      `Added tcp 127.0.0.1:${port} → guest port 22: listening now.`,
    );
    // QEMU's user network listens on the host now, without a restart.
    expect(await accepts(port)).toBe(true);
    expect((await s.json<VmSummary>(['info', 'fwd'])).definition!.network.forwards).toEqual([
      { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestPort: 22 },
    ]);

    // The row offers the ssh command, and its Copy button puts it on the clipboard.
    const row = app.forwardRow(port);
    await row.getByText(`ssh -p ${port} localhost`).waitFor();
    await row.getByRole('button', { name: `Copy ssh -p ${port} localhost` }).click();
    await row
      .getByRole('button', { name: `Copy ssh -p ${port} localhost` })
      .filter({ hasText: 'Copied' })
      .waitFor();
    expect(await app.page.evaluate(() => navigator.clipboard.readText())).toBe(`ssh -p ${port} localhost`);
    await shot(app.page, 'forwards-real-running');

    // A port another program holds: refused at the host port, with the port named; nothing stored.
    const holder = await listenAnywhere();
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    const held = (holder.address() as net.AddressInfo).port;
    await expect(app.addForward({ hostPort: held, guestPort: 80 })).rejects.toThrow(
      `Host port tcp 127.0.0.1:${held} is in use by another program (`,
    );
    expect(await card.getByLabel('Host port').getAttribute('aria-invalid')).toBe('true');
    await shot(app.page, 'forwards-real-in-use');
    expect((await s.json<VmSummary>(['info', 'fwd'])).definition!.network.forwards).toHaveLength(1);

    expect(await app.removeForward(port)).toBe(`Removed tcp 127.0.0.1:${port}: no longer listening.`);
    expect(await accepts(port)).toBe(false);
    await app.forwardRow(port).waitFor({ state: 'detached' });
    expect((await s.json<VmSummary>(['info', 'fwd'])).definition!.network.forwards).toEqual([]);

    // Stopped: stored, said to listen from the next start, and the next start does.
    await app.forceOff();
    await app.waitForState('fwd', 'stopped');
    expect(await app.addForward({ hostPort: port, guestPort: 22 })).toBe(
      `Added tcp 127.0.0.1:${port} → guest port 22: it listens from the next start.`,
    );
    await card.getByText('The VM is not running: these listen from its next start.').waitFor();
    expect(await accepts(port)).toBe(false);
    await app.action('Start').click();
    await app.waitForState('fwd', 'running');
    expect(await accepts(port)).toBe(true);
    await app.forceOff();
    await app.waitForState('fwd', 'stopped');
  });
});
