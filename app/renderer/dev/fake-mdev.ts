/**
 * The demo page's mdev host (`#demo`): an Intel GVT-g laptop with one vGPU already made, whose
 * VFIO group node is root-only and whose memlock limit is 8 MiB until "fixed". The verdict texts
 * here are samples for looking at the wizard; the real ones come from main/mdev/doctor.ts (the
 * e2e test drives the wizard against that, over a fixture sysfs tree).
 */
import type { CallParams, CallResults } from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import type { MdevAssignment, VmSummary } from '../../main/common/vm-types.js';
import type { MdevCheck, MdevDevice, MdevInventory, MdevType } from '../features/mdev-wizard/vgpu-model.js';

const PARENT = '0000:00:02.0';
const gvt = (n: number, low: number, high: number, res: string, free: number): MdevType => ({
  id: `i915-GVTg_V5_${n}`,
  parent: PARENT,
  name: `GVTg_V5_${n}`,
  description: `low_gm_size: ${low}MB\nhigh_gm_size: ${high}MB\nfence: 4\nresolution: ${res}\nweight: ${16 / n}`,
  details: { resolution: res, lowGmMiB: low, highGmMiB: high, fence: 4, weight: 16 / n },
  summary: `${res}, ${low}+${high} MiB graphics memory, weight ${16 / n}`,
  deviceApi: 'vfio-pci',
  availableInstances: free,
  canCreate: true,
  instances: [],
  display: 'dmabuf',
  problems: [],
});

export interface FakeMdev {
  list(vms: VmSummary[]): MdevInventory;
  check(vm: VmSummary, assignments: readonly MdevAssignment[]): CallResults['mdev.check'];
  applyFixes(vm: VmSummary, assignments: readonly MdevAssignment[]): CallResults['mdev.applyFixes'];
  assignment(p: CallParams<'mdev.assign'>): MdevAssignment;
}

export function createFakeMdev(): FakeMdev {
  const devices = new Map<string, { type: string; group: string }>([
    ['4b20d080-1b54-4048-81ae-217b1e2a2bd3', { type: 'i915-GVTg_V5_4', group: '16' }],
  ]);
  let fixed = false;
  const types = () =>
    [
      gvt(1, 512, 2048, '1920x1200', 0),
      gvt(2, 256, 1024, '1920x1200', 1),
      gvt(4, 128, 512, '1920x1200', 2),
      gvt(8, 64, 384, '1024x768', 5),
    ].map((t) => ({ ...t, instances: [...devices].filter(([, d]) => d.type === t.id).map(([u]) => u) }));

  const list = (vms: VmSummary[]): MdevInventory => ({
    parents: [
      {
        name: PARENT,
        driver: 'i915',
        vendor: 'intel-gvtg',
        pci: {
          vendorId: '8086',
          deviceId: '3e92',
          vendorName: 'Intel Corporation',
          deviceName: 'CoffeeLake-S GT2 [UHD Graphics 630]',
        },
        hasTypesDir: true,
        types: types(),
        problems: [],
      },
    ],
    devices: [...devices].map(([uuid, d]): MdevDevice => ({
      uuid,
      type: d.type,
      parent: PARENT,
      iommuGroup: d.group,
      problems: [],
      usedBy: vms
        .filter((v) => v.definition?.mdevs.some((m) => m.uuid === uuid))
        .map((v) => ({ id: v.id, name: v.name })),
    })),
    mdevctl: { installed: false, definitions: [] },
    notes: [],
  });

  const check = (vm: VmSummary, assignments: readonly MdevAssignment[]): CallResults['mdev.check'] => {
    const checks: MdevCheck[] = [
      { id: 'iommu', title: 'IOMMU enabled', status: 'pass', detail: '/sys/kernel/iommu_groups has 17 groups.' },
      {
        id: 'vfio-modules',
        title: 'VFIO kernel modules loaded',
        status: 'pass',
        detail: 'vfio, vfio_iommu_type1, mdev and kvmgt are loaded.',
      },
    ];
    for (const a of assignments) {
      const dev = devices.get(a.uuid);
      checks.push(
        dev
          ? {
              id: 'device',
              title: `Device ${a.uuid} ready`,
              status: 'pass',
              device: a.uuid,
              detail: `${a.uuid} exists (${dev.type}, IOMMU group ${dev.group}).`,
            }
          : {
              id: 'device',
              title: `Device ${a.uuid} ready`,
              status: 'fail',
              device: a.uuid,
              detail: `${a.uuid} (${a.type} on ${a.parent}) does not exist yet; creating it needs root once.`,
              fix: {
                text: 'create it (one password prompt)',
                command: `vmdesk mdev create --parent ${a.parent} --type ${a.type} --uuid ${a.uuid}`,
                privileged: true,
                action: { kind: 'create', parent: a.parent, type: a.type, uuid: a.uuid },
              },
            },
      );
      checks.push(
        fixed
          ? {
              id: 'vfio-group',
              title: 'VFIO group usable',
              status: 'pass',
              device: a.uuid,
              detail: `/dev/vfio/${dev?.group ?? '17'} can be read and written by you.`,
            }
          : {
              id: 'vfio-group',
              title: 'VFIO group usable',
              status: 'fail',
              device: a.uuid,
              detail: `You cannot open /dev/vfio/${dev?.group ?? '17'} for reading and writing (EACCES); QEMU runs as you and needs it.`,
              fix: {
                text: 'create /etc/udev/rules.d/99-vmdesk-vfio.rules containing\n    SUBSYSTEM=="vfio", KERNEL=="[0-9]*", PROGRAM="/usr/libexec/vmdesk/vmdesk-mdev-helper is-mdev-group %k", GROUP="kvm", MODE="0660"\n    SUBSYSTEM=="misc", KERNEL=="vfio", MODE="0666"\n(the helper opens only mediated devices\' VFIO groups to group kvm, never a passthrough device)\nand apply it: sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=vfio --subsystem-match=misc',
                command: `printf '%s\\n' 'SUBSYSTEM=="vfio", KERNEL=="[0-9]*", PROGRAM="/usr/libexec/vmdesk/vmdesk-mdev-helper is-mdev-group %k", GROUP="kvm", MODE="0660"' 'SUBSYSTEM=="misc", KERNEL=="vfio", MODE="0666"' | sudo tee /etc/udev/rules.d/99-vmdesk-vfio.rules >/dev/null && sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=vfio --subsystem-match=misc`,
                privileged: true,
                action: { kind: 'udev-rule' },
              },
            },
      );
    }
    const mem = vm.definition?.memoryMiB ?? 1024;
    checks.push(
      fixed
        ? {
            id: 'memlock',
            title: 'Locked-memory limit',
            status: 'pass',
            detail: `RLIMIT_MEMLOCK is unlimited; this VM needs ${(mem / 1024 + 1).toFixed(0)} GiB (guest RAM + 1 GiB).`,
          }
        : {
            id: 'memlock',
            title: 'Locked-memory limit',
            status: 'fail',
            detail: `The hard memlock limit (8 MiB) is below the ${(mem / 1024 + 1).toFixed(0)} GiB this VM needs (guest RAM + 1 GiB): QEMU could not pin the guest's memory.`,
            fix: {
              text: 'add to /etc/security/limits.conf:\n    ada hard memlock 5242880\n    ada soft memlock 5242880\nthen log out and in again.',
              command: `printf '%s\\n' 'ada hard memlock 5242880' 'ada soft memlock 5242880' | sudo tee /etc/security/limits.d/90-vmdesk-memlock-ada.conf >/dev/null`,
              privileged: true,
              action: { kind: 'memlock', user: 'ada', kib: 5242880 },
            },
          },
    );
    checks.push({
      id: 'qemu-vfio',
      title: 'QEMU has vfio-pci',
      status: 'pass',
      detail: 'qemu-system-x86_64 7.2.0 has vfio-pci.',
    });
    for (const a of assignments.filter((x) => x.display))
      checks.push({
        id: 'display',
        title: 'Display: OpenGL render node for egl-headless',
        status: 'pass',
        device: a.uuid,
        detail:
          '/dev/dri/renderD128 (the GPU of 0000:00:02.0) can be opened: QEMU shows the vGPU through egl-headless.',
      });
    const actions = checks.flatMap((c) => (c.status !== 'pass' && c.fix?.action ? [c.fix.action] : []));
    return {
      vm: vm.name,
      ready: !checks.some((c) => c.status === 'fail'),
      checks,
      fixActions: actions,
      hostOnly: assignments.length === 0,
    };
  };

  return {
    list,
    check,
    applyFixes(vm, assignments) {
      for (const a of assignments)
        if (!devices.has(a.uuid)) devices.set(a.uuid, { type: a.type, group: String(17 + devices.size) });
      fixed = true;
      return { outcome: 'done', result: check(vm, assignments) };
    },
    assignment(p) {
      const t = types().find((x) => x.id === p.type);
      if (p.parent !== PARENT || !t) throw new VmdeskError('not-found', `${p.parent} has no type ${p.type}.`);
      return {
        uuid: (p.uuid ?? crypto.randomUUID()).toLowerCase(),
        parent: p.parent,
        type: p.type,
        display: p.display ?? true,
      };
    },
  };
}
