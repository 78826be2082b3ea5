/**
 * Shared folders with the real parts under TCG: the test guest mounts a host folder over
 * virtio-fs (QEMU 7.2's own virtiofsd, which these tests can run because they run as root) and
 * reads what the host wrote, the host reads what the guest wrote; virtiofsd is the VM's (adopted
 * after the driver is SIGKILLed, gone with the VM). Without a virtiofsd that can serve it, the
 * share falls back to 9p, said with the reason; the test guest's kernel has no 9p driver, so that
 * case checks the guest sees QEMU's virtio-9p device.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { attachVmdeskConsole, GuestShell } from './guest/guest-shell.js';
import { AppPage } from './pages/app-page.js';
import { guestIso, qemuPidsUnder, Sandbox } from './support/cli.js';
import { CHROMIUM, openPage, shot, startWeb } from './support/web.js';

const sandboxes: Sandbox[] = [];
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
afterAll(() => {
  for (const s of sandboxes) s.cleanup();
});
function sandbox(): Sandbox {
  const s = new Sandbox();
  sandboxes.push(s);
  return s;
}

/** virtiofsd processes serving this sandbox's sockets. */
function virtiofsds(root: string): number[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const argv = fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
      return path.basename(argv[0] ?? '') === 'virtiofsd' && argv.some((a) => a.includes(root)) ? [Number(n)] : [];
    } catch {
      return [];
    }
  });
}

const virtiofsdInstalled = ['/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd'].some((p) => fs.existsSync(p));
const root = process.getuid?.() === 0;

describe('shared folders', () => {
  it.skipIf(!virtiofsdInstalled || !root)(
    'mounts a host folder over virtio-fs both ways; virtiofsd is adopted after a SIGKILL of the driver and ends with the VM',
    async () => {
      const s = sandbox();
      let driver = await s.startDriver();
      const share = path.join(s.root, 'shared');
      fs.mkdirSync(share);
      fs.writeFileSync(path.join(share, 'hello.txt'), 'written by the host\n');
      await s.json([
        'define',
        '--name',
        'fs',
        '--memory',
        '256M',
        '--cdrom',
        guestIso(),
        '--share',
        `${share}:hostdocs`,
      ]);
      const vm = await s.json<VmSummary>(['start', 'fs']);
      expect(vm.shares).toEqual([
        { path: share, tag: 'hostdocs', readOnly: false, mode: 'virtiofs', mount: 'mount -t virtiofs hostdocs /mnt' },
      ]);
      const cmdline = fs.readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline).toContain('memory-backend-memfd,id=mem,size=256M,share=on');
      expect((await s.run(['info', 'fs'])).stdout).toMatch(
        /^Shared: +hostdocs: .*shared; virtiofs; in the guest: mount -t virtiofs hostdocs \/mnt$/m,
      );
      const daemons = virtiofsds(s.root);
      expect(daemons.length).toBeGreaterThan(0);

      const shell = new GuestShell(await attachVmdeskConsole(s, 'fs'));
      try {
        await shell.ready();
        await shell.check('dmesg -n 1');
        await shell.check('mkdir -p /mnt && mount -t virtiofs hostdocs /mnt');
        expect(await shell.check('cat /mnt/hello.txt')).toBe('written by the host');
        await shell.check('echo written by the guest > /mnt/from-guest.txt && sync');
        expect(fs.readFileSync(path.join(share, 'from-guest.txt'), 'utf8')).toBe('written by the guest\n');
      } finally {
        shell.link.close();
      }

      // The driver dies; the next one adopts QEMU and the same virtiofsd.
      driver.kill('SIGKILL');
      await new Promise((r) => driver.once('exit', r));
      driver = await s.startDriver();
      const adopted = await s.json<VmSummary>(['info', 'fs']);
      expect(adopted).toMatchObject({ state: 'running', pid: vm.pid });
      expect(adopted.shares?.[0]?.mode).toBe('virtiofs');
      expect(virtiofsds(s.root).sort()).toEqual(daemons.sort());
      expect(fs.readFileSync(adopted.paths!.driverLog, 'utf8')).toMatch(/adopted virtiofsd pid \d+/);

      await s.json(['stop', 'fs']);
      expect(virtiofsds(s.root)).toEqual([]);
      expect(qemuPidsUnder(s.root)).toEqual([]);
      driver.kill('SIGKILL');
    },
    300_000,
  );

  it('falls back to 9p, saying why, when no virtiofsd can serve the folder', async () => {
    const s = sandbox();
    // A pinned virtiofsd that does not exist: the host has none to offer.
    await s.startDriver({ VMDESK_VIRTIOFSD: path.join(s.root, 'no-virtiofsd') });
    const share = path.join(s.root, 'docs');
    fs.mkdirSync(share);
    await s.json(['define', '--name', 'p9', '--memory', '256M', '--cdrom', guestIso(), '--share', `${share}:docs:ro`]);
    const vm = await s.json<VmSummary>(['start', 'p9']);
    expect(vm.shares).toMatchObject([
      {
        tag: 'docs',
        readOnly: true,
        mode: '9p',
        reason: expect.stringContaining('virtiofsd is not installed'),
        mount: 'mount -t 9p -o trans=virtio,version=9p2000.L docs /mnt',
      },
    ]);
    const cmdline = fs.readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain(`local,id=fsdev0,path=${share},security_model=mapped-xattr,readonly=on`);
    expect(virtiofsds(s.root)).toEqual([]);
    const shell = new GuestShell(await attachVmdeskConsole(s, 'p9'));
    try {
      await shell.ready();
      await shell.check('dmesg -n 1');
      // virtio device id 9 is 9p transport: QEMU offers the share to the guest.
      expect(await shell.check('cat /sys/bus/virtio/devices/*/device')).toContain('0x0009');
    } finally {
      shell.link.close();
      await s.run(['stop', 'p9']);
    }
  }, 300_000);

  it.skipIf(!fs.existsSync(CHROMIUM))(
    'shows each share and the guest’s mount command in the Overview',
    async () => {
      const s = sandbox();
      const share = path.join(s.root, 'music');
      fs.mkdirSync(share);
      await s.json([
        'define',
        '--name',
        'ui',
        '--memory',
        '256M',
        '--cdrom',
        guestIso(),
        '--share',
        `${share}:music:ro`,
      ]);
      const web = await startWeb(s);
      const page = await openPage(web.url, (c) => cleanups.push(c));
      const app = new AppPage(page);
      await app.select('ui');
      const section = page.getByRole('main').getByRole('region', { name: 'Shared folders' });
      await section.getByText('chosen when the VM starts').waitFor();
      await app.action('Start').click();
      await app.waitForState('ui', 'running');
      const mount = (await s.json<VmSummary>(['info', 'ui'])).shares![0]!.mount;
      await section.getByTestId('share-mount').filter({ hasText: mount }).waitFor();
      await shot(page, 'overview-shared-folders');
      await s.run(['stop', 'ui']);
    },
    180_000,
  );

  it('refuses a share that is not a directory, and one whose tag is taken, in sentences', async () => {
    const s = sandbox();
    await s.startDriver();
    const file = path.join(s.root, 'a-file');
    fs.writeFileSync(file, 'x');
    const notDir = await s.run(['define', '--name', 'x', '--share', file]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toBe(`vmdesk: ${file} is not a directory: share a folder that exists.\n`);
    const twice = await s.run(['define', '--name', 'x', '--share', `${s.root}:t`, '--share', `${s.root}:t`]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/two shared folders have one tag/);
    await s.json(['define', '--name', 'y']);
    const set = await s.run(['set', 'y', '--share', `${s.root}:docs`]);
    expect(set.code, set.stderr).toBe(0);
    expect((await s.json<VmSummary>(['info', 'y'])).definition?.shares).toEqual([
      { path: s.root, tag: 'docs', readOnly: false },
    ]);
    const none = await s.run(['set', 'y', '--share', 'none']);
    expect(none.code, none.stderr).toBe(0);
    expect((await s.json<VmSummary>(['info', 'y'])).definition?.shares).toEqual([]);
  }, 120_000);
});
