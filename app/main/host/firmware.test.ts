import { describe, expect, it } from 'vitest';
import { firmwareDescriptorDirs, parseFirmwareDescriptor, pickFirmware, probeFirmware } from './firmware.js';
import { FakeFs } from './testing/fakes.js';

/** A descriptor as Debian's ovmf package writes them. */
function descriptor(o: {
  code: string;
  vars?: string;
  arch?: string;
  machines?: string[];
  features?: string[];
  device?: string;
  iface?: string[];
}): string {
  return JSON.stringify({
    description: `edk2 ${o.code}`,
    'interface-types': o.iface ?? ['uefi'],
    mapping: {
      device: o.device ?? 'flash',
      executable: { filename: o.code, format: 'raw' },
      ...(o.vars ? { 'nvram-template': { filename: o.vars, format: 'raw' } } : {}),
    },
    targets: [{ architecture: o.arch ?? 'x86_64', machines: o.machines ?? ['pc-q35-*'] }],
    features: o.features ?? ['acpi-s3'],
    tags: [],
  });
}

const ENV = { HOME: '/home/alice' };
const USER_DIR = '/home/alice/.config/qemu/firmware';

function debianOvmf(fs = new FakeFs()): FakeFs {
  return fs
    .file('/usr/share/OVMF/OVMF_CODE_4M.fd')
    .file('/usr/share/OVMF/OVMF_VARS_4M.fd')
    .file('/usr/share/OVMF/OVMF_CODE_4M.ms.fd')
    .file('/usr/share/OVMF/OVMF_VARS_4M.ms.fd')
    .file(
      '/usr/share/qemu/firmware/40-edk2-x86_64-secure-enrolled.json',
      descriptor({
        code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
        vars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
        features: ['secure-boot', 'enrolled-keys', 'requires-smm'],
      }),
    )
    .file(
      '/usr/share/qemu/firmware/60-edk2-x86_64.json',
      descriptor({
        code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
        vars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
        machines: ['pc-i440fx-*', 'pc-q35-*'],
      }),
    );
}

describe('probeFirmware', () => {
  it('reads the distro descriptors in file-name order with their features', async () => {
    const r = await probeFirmware({ fs: debianOvmf(), env: ENV, osFamily: 'debian' });
    expect(r.images.map((i) => [i.code, i.secureBoot, i.enrolledKeys, i.requiresSmm])).toEqual([
      ['/usr/share/OVMF/OVMF_CODE_4M.ms.fd', true, true, true],
      ['/usr/share/OVMF/OVMF_CODE_4M.fd', false, false, false],
    ]);
    expect(r.images[1]).toMatchObject({
      arch: 'x86_64',
      varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd',
      format: 'raw',
      machines: ['pc-i440fx-*', 'pc-q35-*'],
      source: '/usr/share/qemu/firmware/60-edk2-x86_64.json',
    });
    expect(r.problems).toEqual([]);
  });

  it('lets /etc/qemu/firmware replace a distro descriptor of the same name', async () => {
    const fs = debianOvmf()
      .file('/srv/OVMF_CUSTOM.fd')
      .file('/srv/OVMF_CUSTOM_VARS.fd')
      .file(
        '/etc/qemu/firmware/60-edk2-x86_64.json',
        descriptor({ code: '/srv/OVMF_CUSTOM.fd', vars: '/srv/OVMF_CUSTOM_VARS.fd' }),
      );
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.images.map((i) => i.code)).toEqual(['/usr/share/OVMF/OVMF_CODE_4M.ms.fd', '/srv/OVMF_CUSTOM.fd']);
  });

  it("lets an empty file in the user's config dir hide a descriptor", async () => {
    const fs = debianOvmf().file(`${USER_DIR}/40-edk2-x86_64-secure-enrolled.json`, '');
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.images.map((i) => i.code)).toEqual(['/usr/share/OVMF/OVMF_CODE_4M.fd']);
  });

  it('puts a user descriptor with a lower number first', async () => {
    const fs = debianOvmf()
      .file('/home/alice/fw/CODE.fd')
      .file('/home/alice/fw/VARS.fd')
      .file(`${USER_DIR}/10-mine.json`, descriptor({ code: '/home/alice/fw/CODE.fd', vars: '/home/alice/fw/VARS.fd' }));
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.images[0]?.code).toBe('/home/alice/fw/CODE.fd');
  });

  it('reports malformed JSON and skips it', async () => {
    const fs = debianOvmf().file('/etc/qemu/firmware/50-broken.json', '{ "description": ');
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.problems).toEqual([expect.stringMatching(/^\/etc\/qemu\/firmware\/50-broken\.json: malformed JSON/)]);
    expect(r.images).toHaveLength(2);
  });

  it('reports a descriptor of the wrong shape and skips it', async () => {
    const fs = new FakeFs().file('/usr/share/qemu/firmware/50-odd.json', '{"description":"x"}');
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.problems).toEqual([expect.stringMatching(/50-odd\.json: not a firmware descriptor/)]);
  });

  it('reports and skips a descriptor whose code file does not exist', async () => {
    const fs = debianOvmf().file(
      '/usr/share/qemu/firmware/30-gone.json',
      descriptor({ code: '/usr/share/OVMF/GONE.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' }),
    );
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.problems).toEqual([
      '/usr/share/qemu/firmware/30-gone.json: skipped, /usr/share/OVMF/GONE.fd does not exist',
    ]);
    expect(r.images.map((i) => i.code)).not.toContain('/usr/share/OVMF/GONE.fd');
  });

  it('quietly ignores BIOS and memory-mapped descriptors, which are valid but not for us', async () => {
    const fs = debianOvmf()
      .file(
        '/usr/share/qemu/firmware/50-seabios.json',
        descriptor({ code: '/usr/share/seabios/bios.bin', iface: ['bios'], device: 'memory' }),
      )
      .file(
        '/usr/share/qemu/firmware/45-sev.json',
        descriptor({ code: '/usr/share/OVMF/OVMF.amdsev.fd', device: 'memory' }),
      );
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.problems).toEqual([]);
    expect(r.images).toHaveLength(2);
  });

  it('falls back to the well-known files when no descriptor names them', async () => {
    const fs = new FakeFs().file('/usr/share/AAVMF/AAVMF_CODE.fd').file('/usr/share/AAVMF/AAVMF_VARS.fd');
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.images.filter((i) => i.arch === 'aarch64')).toEqual([
      expect.objectContaining({
        source: 'well-known path',
        code: '/usr/share/AAVMF/AAVMF_CODE.fd',
        varsTemplate: '/usr/share/AAVMF/AAVMF_VARS.fd',
        machines: ['virt-*'],
      }),
    ]);
  });

  it('lists every well-known build it finds, in order of preference (the first one is used)', async () => {
    const fs = new FakeFs()
      .file('/usr/share/OVMF/OVMF_CODE.fd')
      .file('/usr/share/OVMF/OVMF_VARS.fd')
      .file('/usr/share/OVMF/OVMF_CODE_4M.fd')
      .file('/usr/share/OVMF/OVMF_VARS_4M.fd');
    const r = await probeFirmware({ fs, env: ENV, osFamily: 'debian' });
    expect(r.images.filter((i) => i.arch === 'x86_64').map((i) => i.code)).toEqual([
      '/usr/share/OVMF/OVMF_CODE_4M.fd',
      '/usr/share/OVMF/OVMF_CODE.fd',
    ]);
  });

  it('reports what is missing and the package that provides it, per distribution', async () => {
    const debian = await probeFirmware({ fs: debianOvmf(), env: ENV, osFamily: 'debian' });
    expect(debian.missing).toEqual([
      {
        arch: 'aarch64',
        reason: expect.stringMatching(/no UEFI firmware for aarch64 guests/),
        fix: 'sudo apt install qemu-efi-aarch64',
      },
    ]);
    const fedora = await probeFirmware({ fs: new FakeFs(), env: ENV, osFamily: 'fedora' });
    expect(fedora.missing.map((m) => m.fix)).toEqual(['sudo dnf install edk2-ovmf', 'sudo dnf install edk2-aarch64']);
    const mac = await probeFirmware({ fs: new FakeFs(), env: ENV, osFamily: 'macos' });
    expect(mac.missing[0]?.fix).toMatch(/^brew install qemu/);
  });

  it('searches Homebrew, distro, sysadmin and user directories, general to specific', () => {
    expect(firmwareDescriptorDirs({ XDG_CONFIG_HOME: '/x', HOME: '/home/a' })).toEqual([
      '/opt/homebrew/share/qemu/firmware',
      '/usr/local/share/qemu/firmware',
      '/usr/share/qemu/firmware',
      '/etc/qemu/firmware',
      '/x/qemu/firmware',
    ]);
  });
});

describe('parseFirmwareDescriptor', () => {
  it('keeps a stateless build without a vars template', () => {
    const json = JSON.parse(descriptor({ code: '/fw/CODE.fd', arch: 'aarch64', machines: ['virt-*'] })) as unknown;
    const r = parseFirmwareDescriptor(json, '/d.json');
    expect(r.images).toHaveLength(1);
    expect(r.images[0]?.varsTemplate).toBeUndefined();
  });

  it('ignores targets other than x86_64 and aarch64', () => {
    expect(
      parseFirmwareDescriptor(
        JSON.parse(descriptor({ code: '/c', vars: '/v', arch: 'riscv64' })) as unknown,
        '/d.json',
      ),
    ).toEqual({ images: [] });
  });
});

describe('pickFirmware', () => {
  it('picks the plain build for an ordinary q35 VM and the enrolled-keys build for secure boot', async () => {
    const r = await probeFirmware({ fs: debianOvmf(), env: ENV, osFamily: 'debian' });
    expect(pickFirmware(r, 'x86_64', 'pc-q35-7.2')?.code).toBe('/usr/share/OVMF/OVMF_CODE_4M.fd');
    expect(pickFirmware(r, 'x86_64', 'pc-q35-7.2', { secureBoot: true })?.code).toBe(
      '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
    );
    expect(pickFirmware(r, 'aarch64', 'virt-7.2')).toBeUndefined();
  });

  it('understands the q35, pc and virt aliases although descriptors list versioned types only', async () => {
    const r = await probeFirmware({ fs: debianOvmf(), env: ENV, osFamily: 'debian' });
    expect(pickFirmware(r, 'x86_64', 'q35')?.code).toBe('/usr/share/OVMF/OVMF_CODE_4M.fd');
    expect(pickFirmware(r, 'x86_64', 'pc')?.code).toBe('/usr/share/OVMF/OVMF_CODE_4M.fd');
    expect(pickFirmware(r, 'x86_64', 'microvm')).toBeUndefined();
  });
});
