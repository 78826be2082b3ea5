/**
 * What the guest sees of changes made to its running VM, through the real CLI, a real QEMU (TCG)
 * and the test guest's own shell (e2e/guest/guest-shell.ts): a disk plugged in, grown and
 * unplugged; a disc put into a second drive; a port forward reaching a listener in the guest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { buildFixtures } from '../app/main/iso/fixtures/build-fixtures.js';
import { attachVmdeskConsole, GuestShell, talkTcp } from './guest/guest-shell.js';
import { guestIso, Sandbox } from './support/cli.js';
import { freePort } from './support/ports.js';

let s: Sandbox;
let shell: GuestShell;
let vm: VmSummary;

beforeAll(async () => {
  s = new Sandbox();
  await s.startDriver();
  await s.json(['define', '--name', 'live', '--memory', '192M', '--disk-size', '64M', '--cdrom', guestIso()]);
  await s.json(['set', 'live', '--cdrom-drives', '2']);
  vm = await s.json<VmSummary>(['start', 'live']);
  shell = new GuestShell(await attachVmdeskConsole(s, 'live'));
  await shell.ready();
  // Kernel messages (an I/O error on an empty drive) would land in the middle of command output.
  await shell.check('dmesg -n 1');
}, 180_000);

afterAll(async () => {
  shell?.link.close();
  if (s) await s.run(['stop', 'live']);
  s?.cleanup();
});

/** Polls a guest shell expression until it prints `want` (the guest notices changes a moment later). */
async function guestSees(expr: string, want: string): Promise<string> {
  return shell.check(
    `i=0; while [ "$(${expr})" != '${want}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; ${expr}`,
    { timeoutMs: 60_000 },
  );
}

describe('a running VM', () => {
  it('gets a new disk at once: the guest sees /dev/vdb, then its new size, then sees it go', async () => {
    expect(await shell.check('ls /sys/block | grep vd')).toBe('vda');
    const added = await s.run(['disk', 'add', 'live', '--size', '32M']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^Added vdb \(\/.*\/disk1\.qcow2\) to "live", plugged in now\.\n$/);
    await shell.check('vmdesk-wait /dev/vdb 60', { timeoutMs: 90_000 });
    // 512-byte sectors.
    expect(await shell.check('cat /sys/block/vdb/size')).toBe(String((32 * 2 ** 20) / 512));
    expect((await s.json<VmSummary>(['info', 'live'])).pending).toBeUndefined();

    const grown = await s.run(['disk', 'resize', 'live', 'vdb', '48M']);
    expect(grown.code, grown.stderr).toBe(0);
    expect(await guestSees('cat /sys/block/vdb/size', String((48 * 2 ** 20) / 512))).toBe(String((48 * 2 ** 20) / 512));
    const shrink = await s.run(['disk', 'resize', 'live', 'vdb', '16M']);
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toContain('shrinking a disk is refused');

    const file = (await s.json<VmSummary>(['info', 'live'])).definition!.disks[1]!.path;
    const removed = await s.run(['disk', 'remove', 'live', 'vdb', '--delete-file']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe('Removed vdb from "live" and deleted its file.\n');
    expect(await guestSees('ls /sys/block | grep vd', 'vda')).toBe('vda');
    expect(fs.existsSync(file)).toBe(false);
    const boot = await s.run(['disk', 'remove', 'live', 'vda']);
    expect(boot.stderr).toBe(
      'vmdesk: vda is the disk "live" booted from, and it is running. Shut it down first, then remove it.\n',
    );
  }, 240_000);

  it('gets a disc in its second drive at once: the guest reads the new volume id from /dev/sr1', async () => {
    const second = buildFixtures().debian12;
    const volid = fs
      .readFileSync(second)
      .subarray(32808, 32808 + 32)
      .toString('latin1')
      .trimEnd();
    // An empty drive: the guest has no medium to read.
    expect((await shell.run('dd if=/dev/sr1 bs=2048 count=1 of=/dev/null')).status).not.toBe(0);
    const r = await s.run(['cdrom', 'insert', 'live', second, '--drive', '1']);
    expect(r.stdout).toBe(`"live" has ${second} in CD-ROM drive 1, now.\n`);
    const read = `dd if=/dev/sr1 bs=1 skip=32808 count=32 2>/dev/null | sed 's/ *$//'`;
    expect(await guestSees(read, volid)).toBe(volid);
    expect(path.basename(second)).toMatch(/\.iso$/);
  }, 120_000);

  it('forwards a host port added while it runs to a listener in the guest', async () => {
    const port = await freePort();
    const added = await s.run(['forward', 'add', 'live', `tcp:${port}:8080`]);
    expect(added.code, added.stderr).toBe(0);
    await shell.check(`nc -l -p 8080 -e echo hello-from-${vm.id.slice(0, 8)} &`);
    await shell.check('vmdesk-wait tcp:8080 30');
    expect(await talkTcp(port)).toBe(`hello-from-${vm.id.slice(0, 8)}\n`);
  }, 120_000);
});
