import { describe, expect, it } from 'vitest';
import type { VmSummary } from '../common/vm-types.js';
import { formatDeleted, formatForwards, formatInfo, formatUpdated } from './format.js';
import { PLAIN_GUEST } from '../common/vm-types.js';

const running: VmSummary = {
  id: '0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b',
  name: 'tiny',
  state: 'running',
  file: '/c/vms/0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b.json',
  pid: 4242,
};

describe('vmdesk info', () => {
  it('says when the guest’s QEMU runs sandboxed', () => {
    expect(formatInfo({ ...running, sandbox: { on: true } })).toMatch(/^Sandbox: +on \(seccomp\)$/m);
  });

  it('warns, with the reason, when QEMU runs without its sandbox', () => {
    // The QEMU on the test machines has seccomp: a summary is the only way to show the other case.
    const reason = 'QEMU /opt/q 9.0 was built without seccomp: the guest’s QEMU runs without -sandbox.';
    expect(formatInfo({ ...running, sandbox: { on: false, reason } })).toMatch(
      new RegExp(`^Sandbox: +OFF — ${reason}$`, 'm'),
    );
  });

  it('shows what the guest agent says: name, OS, addresses; or that none answers', () => {
    const info = {
      hostname: 'vmdesk-guest',
      os: { name: 'vmdesk test guest', prettyName: 'vmdesk test guest 1' },
      addresses: [
        { iface: 'eth0', address: '10.0.2.15', prefix: 24, family: 'ipv4' as const },
        { iface: 'eth0', address: 'fec0::5054:ff:fe12:3456', prefix: 64, family: 'ipv6' as const },
      ],
      at: '2026-12-03T20:00:00.000Z',
    };
    const text = formatInfo({ ...running, guest: { connected: true, info } });
    expect(text).toMatch(/^Guest name: +vmdesk-guest$/m);
    expect(text).toMatch(/^Guest OS: +vmdesk test guest 1$/m);
    expect(text).toMatch(/^Guest IPs: +10\.0\.2\.15\/24 \(eth0\), fec0::5054:ff:fe12:3456\/64 \(eth0\)$/m);
    expect(formatInfo({ ...running, guest: { connected: false } })).toMatch(
      /^Guest agent: +not answering \(install qemu-guest-agent in the guest/m,
    );
  });

  it('says nothing of a sandbox for a VM that does not run', () => {
    expect(formatInfo({ ...running, state: 'stopped', pid: undefined })).not.toMatch(/Sandbox/);
  });
});

describe('vmdesk delete', () => {
  it('lists what it removed and what it kept, one path a line', () => {
    expect(
      formatDeleted('web', { removed: ['/d/vms/x/disk0.qcow2', '/d/vms/x', '/c/vms/x.json'], kept: ['/srv/a.img'] }),
    ).toBe(
      [
        'Deleted "web".',
        'Removed:',
        '  /d/vms/x/disk0.qcow2',
        '  /d/vms/x',
        '  /c/vms/x.json',
        'Kept (vmdesk deletes only the disks it created for the VM, and none you asked to keep):',
        '  /srv/a.img',
        '',
      ].join('\n'),
    );
    expect(formatDeleted('gone', { removed: [], kept: [] })).toBe('Deleted "gone".\nNo files were left to remove.\n');
  });
});

describe('vmdesk set and vmdesk forward', () => {
  const def = {
    version: 3 as const,
    ...PLAIN_GUEST,
    id: '11111111-2222-4333-8444-555555555555',
    name: 'web',
    arch: 'x86_64' as const,
    memoryMiB: 2048,
    cpus: 2,
    accel: 'auto' as const,
    firmware: 'bios' as const,
    disks: [],
    cdroms: [],
    boot: ['disk' as const],
    network: {
      mode: 'user' as const,
      forwards: [
        { proto: 'tcp' as const, hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
        { proto: 'tcp' as const, hostAddr: '0.0.0.0', hostPort: 8080, guestPort: 80 },
      ],
    },
    display: 'std' as const,
    nvram: null,
    mdevs: [],
    createdAt: '2026-12-03T00:00:00.000Z',
  };
  const vm = (over: Partial<VmSummary> = {}): VmSummary => ({
    id: def.id,
    name: 'web',
    state: 'running',
    file: '/f',
    definition: def,
    ...over,
  });

  it('says what the VM is now, and what waits for the next start', () => {
    expect(formatUpdated(vm({ pending: ['Memory: 1 GiB → 2 GiB'] }))).toBe(
      '"web" is set: 2 GiB, 2 CPUs, boots from disk, firmware BIOS, display std, accel auto.\n' +
        'It is running; these apply at its next start:\n  Memory: 1 GiB → 2 GiB\n',
    );
  });

  it('lists forwards with how to reach SSH, and says when there are none', () => {
    expect(formatForwards(vm())).toBe(
      'Port forwards of "web" (running: listening now):\n' +
        'PROTO  HOST            GUEST\n' +
        'tcp    127.0.0.1:2222  22     ssh -p 2222 127.0.0.1\n' +
        'tcp    0.0.0.0:8080    80\n',
    );
    const none = vm({ state: 'stopped', definition: { ...def, network: { mode: 'user', forwards: [] } } });
    expect(formatForwards(none)).toBe('"web" forwards no ports. Add one: vmdesk forward add web tcp:2222:22\n');
  });
});
