import { describe, expect, it } from 'vitest';
import { parseQemuCaps, QemuCapsParseError } from './qemu-caps.js';
import { typeProbeId, type QmpProbeReplies } from './qmp-probe.js';
import { loadQmpFixture, QEMU_72_X86_FIXTURE } from './testing/qmp-fixture.js';

const fixture = loadQmpFixture(QEMU_72_X86_FIXTURE);

function withReply(id: string, reply: QmpProbeReplies['replies'][string]): QmpProbeReplies {
  return { ...fixture, replies: { ...fixture.replies, [id]: reply } };
}

describe('parseQemuCaps on the captured Debian QEMU 7.2 probe', () => {
  const caps = parseQemuCaps('/usr/bin/qemu-system-x86_64', fixture);

  it('reads the version and the target architecture', () => {
    expect(caps).toMatchObject({ arch: 'x86_64', binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22' });
  });

  it('finds the accelerators compiled in from their QOM types', () => {
    expect(caps.accels).toEqual(['kvm', 'tcg']);
  });

  it('lists machine types with their aliases', () => {
    expect(caps.machines).toEqual(expect.arrayContaining(['pc-q35-7.2', 'q35', 'pc', 'pc-i440fx-7.2', 'none']));
  });

  it('reports every device whose presence changes a command line', () => {
    expect(caps.devices).toEqual({ vfioPci: true, virtioVga: true });
  });

  it('sees -sandbox in query-command-line-options', () => {
    expect(caps.sandbox).toBe(true);
  });
});

describe('parseQemuCaps on unusual answers', () => {
  it('reports no sandbox when QEMU was built without seccomp', () => {
    const probe = withReply('query-command-line-options', { return: [{ option: 'machine', parameters: [] }] });
    expect(parseQemuCaps('/q', probe).sandbox).toBe(false);
  });

  it('reports no sandbox when the build has no -sandbox option (QEMU refuses to describe it)', () => {
    const probe = withReply('query-command-line-options', {
      error: { class: 'GenericError', desc: 'invalid option name: sandbox' },
    });
    expect(parseQemuCaps('/q', probe).sandbox).toBe(false);
  });

  it('treats a failed optional query as empty rather than failing the probe', () => {
    const probe = withReply('query-machines', { error: { class: 'GenericError', desc: 'not supported' } });
    expect(parseQemuCaps('/q', probe).machines).toEqual([]);
  });

  it('reports a type QEMU lacks (an error reply) as absent: an aarch64 build with HVF and no virtio-vga', () => {
    const lacks = { error: { class: 'DeviceNotFound', desc: "Class 'x' not found" } };
    const probe = withReply(typeProbeId('kvm-accel'), lacks);
    const caps = parseQemuCaps('/q', {
      ...probe,
      replies: {
        ...probe.replies,
        'query-target': { return: { arch: 'aarch64' } },
        [typeProbeId('hvf-accel')]: { return: [] },
        [typeProbeId('virtio-vga')]: lacks,
      },
    });
    expect(caps.accels).toEqual(['hvf', 'tcg']);
    expect(caps.devices).toEqual({ vfioPci: true, virtioVga: false });
  });

  it('treats a probe without an answer about a type as a QEMU without it', () => {
    const { [typeProbeId('virtio-vga')]: _dropped, ...rest } = fixture.replies;
    expect(parseQemuCaps('/q', { ...fixture, replies: rest }).devices.virtioVga).toBe(false);
  });

  it('refuses a binary for another target', () => {
    const probe = withReply('query-target', { return: { arch: 'riscv64' } });
    expect(() => parseQemuCaps('/q', probe)).toThrow(QemuCapsParseError);
    expect(() => parseQemuCaps('/q', probe)).toThrow(/riscv64/);
  });

  it('refuses a malformed reply instead of guessing', () => {
    const probe = withReply('query-machines', { return: [{ nom: 'q35' }] });
    expect(() => parseQemuCaps('/q', probe)).toThrow(/query-machines/);
  });
});
