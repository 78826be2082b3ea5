import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeNative } from '../host/testing/fakes.js';
import type { MdevAssignment } from '../common/vm-types.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import { assertMdevReady, checkMdev, fixActions, type MdevDoctorInput } from './doctor.js';
import { discoverMdev } from './discover.js';
import { createPciNames } from './pci-ids.js';
import type { GroupLookup } from './host-checks.js';
import { buildSysfs, type BuiltSysfs, type SysfsFixture } from './fixtures/build-sysfs.js';
import { GVT_UUID, gvtgHost, MTTY_UUID, newIntelHost, nvidiaVendorVfioHost, samplesHost } from './fixtures/hosts.js';
import { UDEV_MATCHER, UDEV_RULES, UDEV_RULES_FILE } from './fixes.js';
import type { MdevCheck, MdevCheckId } from '../common/mdev-types.js';

let built: BuiltSysfs[] = [];
afterEach(() => {
  for (const b of built) b.cleanup();
  built = [];
});

const GIB = 2 ** 30;
const KVM_GID = 36;
const groups: GroupLookup = {
  nameOf: async (gid) => ({ 0: 'root', 36: 'kvm', 105: 'render' })[gid],
  gidOf: async (name) => ({ root: 0, kvm: 36, render: 105 })[name],
};
const caps = fakeQemuCaps();
const gvtg: MdevAssignment = { uuid: GVT_UUID, type: 'i915-GVTg_V5_4', parent: '0000:00:02.0', display: true };
const mtty: MdevAssignment = { uuid: MTTY_UUID, type: 'mtty-2', parent: 'mtty', display: false };
const NEW_UUID = '0d2c4e6f-8a1b-4c3d-9e5f-a7b9c1d3e5f7';

interface Setup {
  fixture?: SysfsFixture;
  mdevs?: MdevAssignment[];
  native?: FakeNative;
  others?: MdevDoctorInput['others'];
  caps?: MdevDoctorInput['caps'];
  tweak?: (b: BuiltSysfs) => void;
  display?: 'std' | 'none';
  kernelRelease?: string;
}

async function doctor(s: Setup = {}): Promise<MdevCheck[]> {
  const b = buildSysfs(s.fixture ?? gvtgHost);
  built.push(b);
  s.tweak?.(b);
  const native =
    s.native ??
    Object.assign(new FakeNative(), { memlock: { ok: true, value: { soft: 'unlimited', hard: 'unlimited' } } });
  const inventory = await discoverMdev({ fs: b.fs, roots: b.roots, pciNames: createPciNames(b.fs, [b.pciIdsPath]) });
  return checkMdev({
    fs: b.fs,
    roots: b.roots,
    native,
    groups,
    user: 'ada',
    kernelRelease: s.kernelRelease ?? '6.1.0-18-amd64',
    cpuVendor: 'intel',
    vm: { id: 'vm-1', name: 'win10', memoryMiB: 4096, display: s.display ?? 'std', mdevs: s.mdevs ?? [gvtg] },
    others: s.others ?? [],
    caps: 'caps' in s ? s.caps : caps,
    inventory,
  });
}

const byId = (checks: MdevCheck[], id: MdevCheckId) => {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no ${id} check in ${checks.map((x) => x.id).join(', ')}`);
  return c;
};

describe('checkMdev on a ready GVT-g host', () => {
  it('passes every check, in the order a person fixes them', async () => {
    const checks = await doctor();
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ['parent', 'pass'],
      ['iommu', 'pass'],
      ['vfio-modules', 'pass'],
      ['vfio-container', 'pass'],
      ['instances', 'pass'],
      ['device', 'pass'],
      ['vfio-group', 'pass'],
      ['memlock', 'pass'],
      ['qemu-vfio', 'pass'],
      ['display', 'pass'],
    ]);
    expect(byId(checks, 'parent').detail).toContain('CoffeeLake-S GT2 [UHD Graphics 630]');
    expect(byId(checks, 'device').detail).toContain('IOMMU group 16');
    expect(byId(checks, 'display').detail).toContain('renderD128');
    expect(() => assertMdevReady('win10', checks)).not.toThrow();
  });
});

describe('permissions on /dev/vfio', () => {
  it('a root-only group node gets the udev rule, the one command that applies it, and the kvm membership', async () => {
    const checks = await doctor({
      tweak: (b) => b.deny('/dev/vfio/16', { read: 'EACCES', write: 'EACCES', stat: { gid: 0, mode: 0o20600 } }),
    });
    const c = byId(checks, 'vfio-group');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('/dev/vfio/16');
    expect(c.fix!.text).toContain('/etc/udev/rules.d/99-vmdesk-vfio.rules');
    expect(c.fix!.text).toContain(
      'SUBSYSTEM=="vfio", KERNEL=="[0-9]*", PROGRAM="/usr/libexec/vmdesk/vmdesk-mdev-helper is-mdev-group %k", GROUP="kvm", MODE="0660"',
    );
    expect(c.fix!.text).not.toMatch(/SUBSYSTEM=="vfio", GROUP=/); // never every VFIO group
    expect(c.fix!.text).toContain('never a vfio-pci (passthrough) group');
    expect(c.fix!.text).toContain('sudo usermod -aG kvm ada'); // FakeNative's groups are [1000]
    expect(c.fix!.command).toBe(
      `printf '%s\\n' '${UDEV_RULES[0]}' '${UDEV_RULES[1]}' | sudo tee /etc/udev/rules.d/99-vmdesk-vfio.rules >/dev/null && sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=vfio --subsystem-match=misc`,
    );
    expect(c.fix!.action).toEqual({ kind: 'udev-rule' });
    expect(() => assertMdevReady('win10', checks)).toThrow(/VFIO group usable/);
  });

  it('a kvm-group node the user is not yet in says to join the group (and log in again)', async () => {
    const checks = await doctor({
      tweak: (b) => b.deny('/dev/vfio/16', { write: 'EACCES', stat: { gid: KVM_GID, mode: 0o20660 } }),
    });
    expect(byId(checks, 'vfio-group').fix).toMatchObject({ command: 'sudo usermod -aG kvm ada', privileged: true });
    expect(byId(checks, 'vfio-group').fix!.text).toContain('log out and in');
  });

  it('an unusable container node fails with the same rule; a missing one means vfio is not loaded', async () => {
    const denied = await doctor({
      tweak: (b) => b.deny('/dev/vfio/vfio', { write: 'EPERM', stat: { gid: 0, mode: 0o20600 } }),
    });
    expect(byId(denied, 'vfio-container')).toMatchObject({ status: 'fail', fix: { action: { kind: 'udev-rule' } } });
    const missing = await doctor({ tweak: (b) => fs.rmSync(b.at('dev/vfio/vfio')) });
    expect(byId(missing, 'vfio-container').detail).toContain('does not exist');
  });

  it('a device not created yet: a warning with the udev rule when no existing group is usable', async () => {
    const checks = await doctor({
      fixture: samplesHost,
      mdevs: [{ ...mtty, uuid: NEW_UUID }],
      tweak: (b) => b.deny('/dev/vfio/0', { write: 'EACCES', stat: { gid: 0, mode: 0o20600 } }),
    });
    expect(byId(checks, 'vfio-group')).toMatchObject({ status: 'warn', fix: { action: { kind: 'udev-rule' } } });
    expect(byId(checks, 'device')).toMatchObject({
      status: 'fail',
      fix: { action: { kind: 'create', parent: 'mtty', type: 'mtty-2', uuid: NEW_UUID } },
    });
    expect(fixActions(checks)).toEqual([
      { kind: 'create', parent: 'mtty', type: 'mtty-2', uuid: NEW_UUID },
      { kind: 'udev-rule' },
    ]);
  });
});

describe("vmdesk's udev rule", () => {
  const OLD_RULE =
    '# vmdesk: members of group kvm may open VFIO groups (mediated devices)\nSUBSYSTEM=="vfio", GROUP="kvm", MODE="0660"\nSUBSYSTEM=="misc", KERNEL=="vfio", MODE="0666"\n';
  const NEW_RULE = `# vmdesk\n${UDEV_RULES.join('\n')}\n`;
  const put = (b: BuiltSysfs, file: string, text: string) => {
    fs.mkdirSync(path.dirname(b.at(file)), { recursive: true });
    fs.writeFileSync(b.at(file), text);
  };
  /** The rule file, and (unless `matcher` is false) the helper it runs, installed root's alone. */
  const withRule =
    (text: string, matcher = true) =>
    (b: BuiltSysfs) => {
      put(b, UDEV_RULES_FILE, text);
      if (!matcher) return;
      put(b, UDEV_MATCHER, '#!/bin/sh\n');
      fs.chmodSync(b.at(UDEV_MATCHER), 0o755);
      b.deny(UDEV_MATCHER, { stat: { uid: 0 } }); // the tests may run as another user
    };
  const rule = (checks: MdevCheck[]) => checks.find((c) => c.title === 'VFIO udev rule');

  it('flags the old broad rule, which opens every VFIO group (passthrough devices too), and replaces it', async () => {
    const checks = await doctor({ tweak: withRule(OLD_RULE) });
    const c = rule(checks)!;
    expect(c).toMatchObject({ status: 'warn', fix: { action: { kind: 'udev-rule' }, privileged: true } });
    expect(c.device).toBeUndefined();
    expect(c.detail).toContain('opens every VFIO group, including passthrough devices, to group kvm');
    expect(c.fix!.text).toContain(`replace ${UDEV_RULES_FILE} with the narrow rule`);
    expect(c.fix!.text).toContain(UDEV_RULES[0]);
    expect(c.fix!.text).toContain('gives group kvm only the VFIO groups of mediated devices');
    expect(fixActions(checks)).toEqual([{ kind: 'udev-rule' }]);
    // A warning: the VM itself can start; the rule puts other devices at risk.
    expect(() => assertMdevReady('win10', checks)).not.toThrow();
  });

  it('a hand-written rule that gives every VFIO group away is flagged the same way', async () => {
    const checks = await doctor({ tweak: withRule('SUBSYSTEM=="vfio", OWNER="ada"\n') });
    expect(rule(checks)?.status).toBe('warn');
  });

  it('passes the narrow rule; without the matcher it runs, says that no group is opened', async () => {
    expect(rule(await doctor({ tweak: withRule(NEW_RULE) }))).toMatchObject({ status: 'pass' });
    const missing = rule(await doctor({ tweak: withRule(NEW_RULE, false) }))!;
    expect(missing.status).toBe('warn');
    expect(missing.detail).toContain(`${UDEV_MATCHER} which VFIO groups belong to mediated devices`);
    expect(missing.fix!.text).toContain(`sudo install -D -o root -g root -m 0755`);
    expect(missing.fix!.action).toBeUndefined();
    expect(rule(await doctor())).toBeUndefined(); // no file: the group checks say what is needed
  });

  it("a device not created yet: a root-only passthrough group does not predict an mdev's group", async () => {
    const passthrough = (b: BuiltSysfs) => {
      fs.writeFileSync(b.at('dev/vfio/3'), ''); // a vfio-pci group, root's as it should be
      b.deny('/dev/vfio/3', { read: 'EACCES', write: 'EACCES', stat: { gid: 0, mode: 0o20600 } });
    };
    const native = Object.assign(new FakeNative(), {
      groups: [1000, KVM_GID],
      memlock: { ok: true as const, value: { soft: 'unlimited' as const, hard: 'unlimited' as const } },
    });
    const unassigned = { fixture: samplesHost, mdevs: [{ ...mtty, uuid: NEW_UUID }], native };
    const byRule = await doctor({ ...unassigned, tweak: (b) => (passthrough(b), withRule(NEW_RULE)(b)) });
    expect(byId(byRule, 'vfio-group')).toMatchObject({ status: 'pass', device: NEW_UUID });
    expect(byId(byRule, 'vfio-group').detail).toContain("vmdesk's udev rule will give its VFIO group to group kvm");
    const byExisting = await doctor({ ...unassigned, tweak: passthrough });
    expect(byId(byExisting, 'vfio-group')).toMatchObject({ status: 'pass', device: NEW_UUID });
    expect(byId(byExisting, 'vfio-group').detail).toContain('(0)');
  });
});

describe('memlock', () => {
  const native = (soft: number | 'unlimited', hard: number | 'unlimited') =>
    Object.assign(new FakeNative(), { memlock: { ok: true, value: { soft, hard } } });

  it('a hard limit below guest RAM + 1 GiB fails with the limits.conf lines and a helper action', async () => {
    const c = byId(await doctor({ native: native(8 * 2 ** 20, 8 * 2 ** 20) }), 'memlock');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('below the 5 GiB this VM needs'); // 4 GiB guest + 1 GiB
    expect(c.fix!.text).toContain('ada hard memlock 5242880');
    expect(c.fix!.text).toContain('LimitMEMLOCK=5368709120');
    expect(c.fix!.action).toEqual({ kind: 'memlock', user: 'ada', kib: 5242880 });
  });

  it('once the fix is written, says to log in again instead of offering it again', async () => {
    const dropIn = (kib: number) => (b: BuiltSysfs) => {
      fs.mkdirSync(b.at('etc/security/limits.d'), { recursive: true });
      fs.writeFileSync(
        b.at('etc/security/limits.d/90-vmdesk-memlock-ada.conf'),
        `# vmdesk\nada hard memlock ${kib}\nada soft memlock ${kib}\n`,
      );
    };
    const pending = byId(await doctor({ native: native(8 * 2 ** 20, 8 * 2 ** 20), tweak: dropIn(5242880) }), 'memlock');
    expect(pending.status).toBe('fail');
    expect(pending.detail).toContain(
      'The fix is already in place (/etc/security/limits.d/90-vmdesk-memlock-ada.conf allows 5 GiB), but limits apply from the next login.',
    );
    expect(pending.fix).toEqual({
      text: 'Log out and back in (or restart the computer), then start vmdesk again.',
      privileged: false,
    });
    // A drop-in with too small a value (an older, smaller VM) still gets the fix that writes the new one.
    const small = byId(await doctor({ native: native(8 * 2 ** 20, 8 * 2 ** 20), tweak: dropIn(1024) }), 'memlock');
    expect(small.fix!.action).toEqual({ kind: 'memlock', user: 'ada', kib: 5242880 });
  });

  it('a low soft limit under a high enough hard limit passes: the driver raises it', async () => {
    const c = byId(await doctor({ native: native(64 * 2 ** 20, 8 * GIB) }), 'memlock');
    expect(c).toMatchObject({ status: 'pass' });
    expect(c.detail).toContain('raises the soft limit');
  });

  it('an unreadable limit is a warning', async () => {
    const n = new FakeNative();
    n.memlock = { ok: false, reason: 'native layer not loaded' };
    expect(byId(await doctor({ native: n }), 'memlock').status).toBe('warn');
  });
});

describe('host setup', () => {
  it('no IOMMU fails for GVT-g with the kernel parameter and GRUB steps, and only warns for sample drivers', async () => {
    const noIommu = (b: BuiltSysfs) => {
      for (const g of fs.readdirSync(b.at('sys/kernel/iommu_groups')))
        if (g !== '16') fs.rmSync(b.at(`sys/kernel/iommu_groups/${g}`), { recursive: true });
    };
    const c = byId(await doctor({ tweak: noIommu }), 'iommu');
    expect(c.status).toBe('fail');
    expect(c.fix!.text).toContain('intel_iommu=on');
    expect(c.fix!.text).toContain('GRUB_CMDLINE_LINUX_DEFAULT');
    expect(c.fix!.command).toContain('update-grub');
    expect(byId(await doctor({ fixture: samplesHost, mdevs: [mtty] }), 'iommu').status).toBe('warn');
  });

  it('missing modules are named with modprobe and a modules-load.d line; old kernels also need vfio_mdev', async () => {
    const fixture = { ...gvtgHost, modules: ['vfio', 'kvmgt'] };
    const c = byId(
      await doctor({ fixture, tweak: (b) => fs.rmSync(b.at('sys/bus/mdev'), { recursive: true }) }),
      'vfio-modules',
    );
    expect(c).toMatchObject({ status: 'fail', detail: 'Not loaded: vfio_iommu_type1, mdev.' });
    expect(c.fix!.command).toBe(
      "sudo modprobe -a vfio_iommu_type1 mdev && printf '%s\\n' vfio vfio_iommu_type1 mdev | sudo tee /etc/modules-load.d/vmdesk-vfio.conf >/dev/null",
    );
    expect(c.fix!.action).toEqual({ kind: 'modules' });
    const old = byId(await doctor({ kernelRelease: '5.10.0-28-amd64' }), 'vfio-modules');
    expect(old).toMatchObject({ status: 'fail', detail: 'Not loaded: vfio_mdev.' });
    expect(old.fix!.action).toBeUndefined(); // the helper loads only the modules every kernel has
    expect(byId(await doctor(), 'vfio-modules').detail).toContain('since Linux 5.16');
  });

  it('QEMU without vfio-pci fails; unknown caps warn', async () => {
    expect(byId(await doctor({ caps: fakeQemuCaps({ devices: { vfioPci: false } }) }), 'qemu-vfio').status).toBe(
      'fail',
    );
    expect(byId(await doctor({ caps: { error: 'QEMU for x86_64 is not installed' } }), 'qemu-vfio')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('not installed'),
    });
  });
});

describe('the device itself', () => {
  it('a type with no instances left fails before anything is created', async () => {
    const checks = await doctor({ mdevs: [{ ...gvtg, uuid: NEW_UUID, type: 'i915-GVTg_V5_1' }] });
    expect(byId(checks, 'instances')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('No i915-GVTg_V5_1 instances are left'),
    });
    // Creating it would only be refused: no helper action, so no password prompt for nothing.
    const device = byId(checks, 'device');
    expect(device).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('cannot be created until the problems above with 0000:00:02.0 are solved'),
    });
    expect(device.fix).toBeUndefined();
    expect(fixActions(checks).some((a) => a.kind === 'create')).toBe(false);
  });

  it('a device another running VM uses fails; one a stopped VM also has is a warning', async () => {
    const running = await doctor({
      others: [{ id: 'vm-2', name: 'linux', running: true, mdevs: [{ uuid: GVT_UUID }] }],
    });
    expect(byId(running, 'device')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('running VM "linux"'),
    });
    const stopped = await doctor({
      others: [{ id: 'vm-2', name: 'linux', running: false, mdevs: [{ uuid: GVT_UUID.toUpperCase() }] }],
    });
    expect(byId(stopped, 'device').status).toBe('warn');
  });

  it('an existing device of another type fails', async () => {
    const c = byId(await doctor({ mdevs: [{ ...gvtg, type: 'i915-GVTg_V5_8' }] }), 'device');
    expect(c).toMatchObject({ status: 'fail', detail: expect.stringContaining('is a i915-GVTg_V5_4') });
  });

  it('a parent that went away fails saying so', async () => {
    const c = byId(await doctor({ mdevs: [{ ...gvtg, parent: '0000:00:02.1' }] }), 'parent');
    expect(c).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('offers no mediated devices right now'),
    });
  });

  it('a newer Intel GPU and an NVIDIA vendor-VFIO GPU fail with the explanation, not silently', async () => {
    const intel = byId(await doctor({ fixture: newIntelHost }), 'parent');
    expect(intel).toMatchObject({ status: 'fail', detail: expect.stringContaining('10th-generation Core') });
    const nv = byId(
      await doctor({
        fixture: nvidiaVendorVfioHost,
        mdevs: [{ uuid: NEW_UUID, type: 'nvidia-1155', parent: '0000:41:00.0', display: false }],
      }),
      'parent',
    );
    expect(nv).toMatchObject({ status: 'fail', detail: expect.stringContaining("NVIDIA's own VFIO interface") });
  });
});

describe('display', () => {
  it('a render node the user cannot open fails with the render group', async () => {
    const c = byId(
      await doctor({
        tweak: (b) => b.deny('/dev/dri/renderD128', { write: 'EACCES', stat: { gid: 105, mode: 0o20660 } }),
      }),
      'display',
    );
    expect(c).toMatchObject({ status: 'fail', fix: { command: 'sudo usermod -aG render ada' } });
  });

  it('no render node at all fails: dma-buf needs egl-headless', async () => {
    const c = byId(await doctor({ tweak: (b) => fs.rmSync(b.at('dev/dri'), { recursive: true }) }), 'display');
    expect(c).toMatchObject({ status: 'fail', detail: expect.stringContaining('egl-headless') });
  });

  it('mdpy needs no OpenGL, a headless VM warns, and NVIDIA with display asked for warns', async () => {
    const mdpyCheck = byId(
      await doctor({
        fixture: samplesHost,
        mdevs: [{ uuid: NEW_UUID, type: 'mdpy-hd', parent: 'mdpy', display: true }],
      }),
      'display',
    );
    expect(mdpyCheck).toMatchObject({ status: 'pass', detail: expect.stringContaining('without OpenGL') });
    expect(byId(await doctor({ display: 'none' }), 'display').status).toBe('warn');
    const nvidia = await doctor({
      fixture: samplesHost,
      mdevs: [{ uuid: NEW_UUID, type: 'nvidia-64', parent: '0000:3b:00.0', display: true }],
    });
    expect(byId(nvidia, 'display')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('remote-desktop'),
    });
    expect((await doctor({ fixture: samplesHost, mdevs: [mtty] })).some((c) => c.id === 'display')).toBe(false);
  });
});

describe('assertMdevReady', () => {
  it('stops a start with every failure and how to fix it', async () => {
    const checks = await doctor({
      fixture: samplesHost,
      mdevs: [{ ...mtty, uuid: NEW_UUID }],
      native: Object.assign(new FakeNative(), { memlock: { ok: true, value: { soft: 1024, hard: 1024 } } }),
    });
    let message = '';
    try {
      assertMdevReady('win10', checks);
    } catch (err) {
      message = (err as Error).message;
      expect((err as { code: string }).code).toBe('unsupported');
    }
    expect(message).toContain('"win10" cannot start');
    expect(message).toContain(`vmdesk mdev create --parent mtty --type mtty-2 --uuid ${NEW_UUID}`);
    expect(message).toContain('Locked-memory limit');
    expect(message).toContain('vmdesk mdev check "win10" --fix');
    expect(path.isAbsolute(built[0]!.root)).toBe(true);
  });

  it('does not offer --fix when nothing it could do is left', async () => {
    const checks = await doctor({ mdevs: [{ ...gvtg, uuid: NEW_UUID, type: 'i915-GVTg_V5_1' }] });
    expect(() => assertMdevReady('win10', checks)).toThrow(/for details\.$/);
    expect(() => assertMdevReady('win10', checks)).not.toThrow(/--fix/);
  });
});
