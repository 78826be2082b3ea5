/**
 * The ISO library in the window: real `vmdesk web`, real driver, real files in the sandbox's
 * library folder, Debian Chromium. The list says which VM uses each image, follows changes made
 * from the terminal by push, and deletes an unused image only after a confirmation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildFixtures } from '../app/main/iso/fixtures/build-fixtures.js';
import { AppPage } from './pages/app-page.js';
import { Sandbox } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe.skipIf(!fs.existsSync(CHROMIUM))('the ISO library in the window (skipped without /usr/bin/chromium)', () => {
  it('lists each image with the VM that uses it, follows the terminal, and deletes an unused one after a confirmation', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    const lib = path.join(s.env.XDG_DATA_HOME!, 'vmdesk', 'isos');
    fs.mkdirSync(lib, { recursive: true, mode: 0o700 });
    const fx = buildFixtures();
    const debian = path.join(lib, 'debian-12.iso');
    const abandoned = path.join(lib, 'abandoned.iso');
    fs.copyFileSync(fx.debian12, debian);
    fs.copyFileSync(fx.ubuntu, abandoned);
    await s.json<VmSummary>(['define', '--name', 'installer', '--memory', '256M', '--cdrom', debian]);

    const web = await startWeb(s);
    const app = new AppPage(await openPage(web.url, (c) => cleanups.push(c)));
    const dialog = await app.openIsoLibrary();
    expect(await app.isoNames()).toEqual(['abandoned.iso', 'debian-12.iso']);
    await dialog.getByText(`${lib}/`, { exact: true }).waitFor();
    expect(await app.isoUsage('debian-12.iso')).toMatch(/^Used by “installer”/);
    expect(await app.isoItem('debian-12.iso').innerText()).toMatch(/Debian/);
    expect(
      await app
        .isoItem('debian-12.iso')
        .getByRole('button', { name: /Delete/ })
        .count(),
    ).toBe(0);
    expect(await app.isoUsage('abandoned.iso')).toBe('Not used');
    expect(await app.isoItem('abandoned.iso').innerText()).toMatch(/Ubuntu/);
    await shot(app.page, 'iso-library-real');

    // Asking is not deleting: the confirmation shows and the file stays.
    await app.isoItem('abandoned.iso').getByRole('button', { name: 'Delete abandoned.iso' }).click();
    const confirm = app.isoItem('abandoned.iso').getByRole('group', { name: 'Confirm deleting abandoned.iso' });
    await confirm.waitFor();
    expect(fs.existsSync(abandoned)).toBe(true);

    // A VM made from the terminal meanwhile takes the image: by push, the row says so and the
    // pending confirmation goes, so the window never offers to delete an image in use.
    await s.json(['define', '--name', 'late', '--memory', '128M', '--cdrom', abandoned]);
    await app.isoItem('abandoned.iso').getByText('Used by “late”').waitFor();
    expect(await confirm.count()).toBe(0);
    expect(
      await app
        .isoItem('abandoned.iso')
        .getByRole('button', { name: /Delete/ })
        .count(),
    ).toBe(0);
    await s.json(['eject', 'late']);
    await app.isoItem('abandoned.iso').getByRole('button', { name: 'Delete abandoned.iso' }).waitFor();

    await app.deleteIso('abandoned.iso');
    await dialog.getByRole('status').getByText('Deleted abandoned.iso.').waitFor();
    expect(await app.isoNames()).toEqual(['debian-12.iso']);
    expect(fs.existsSync(abandoned)).toBe(false);
    expect(fs.existsSync(debian)).toBe(true);
    await shot(app.page, 'iso-library-real-deleted');
  });
});
