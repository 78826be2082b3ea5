import { describe, expect, it } from 'vitest';
import type { VmSummary } from '../common/vm-types.js';
import { formatDeleted, formatInfo } from './format.js';

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
