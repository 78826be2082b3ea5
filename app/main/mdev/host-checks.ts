/**
 * The doctor's host-wide checks: IOMMU, VFIO modules, the VFIO device nodes this user must open,
 * vmdesk's udev rule for them, RLIMIT_MEMLOCK, QEMU's vfio-pci, and the render node egl-headless
 * needs. Each returns one MdevCheck; none throws for a condition of the host.
 */
import path from 'node:path';
import type { NativeHost } from '../../native/index.js';
import type { QemuCaps } from '../common/host-types.js';
import { formatBytes, KIB, memlockNeededBytes } from '../host/memlock.js';
import { errnoOf } from '../host/host-io.js';
import {
  broadRuleFix,
  groupFix,
  iommuFix,
  matcherFix,
  memlockDropIn,
  memlockFix,
  modulesFix,
  needsVfioMdevModule,
  udevFix,
  UDEV_MATCHER,
  UDEV_RULES_FILE,
  VFIO_GROUP,
  vfioRuleKind,
} from './fixes.js';
import { exists, linkBasename, listDir, under, type MdevFs, type MdevRoots } from './sysfs-io.js';
import type { MdevCheck, MdevVendor } from '../common/mdev-types.js';

/** /etc/group lookups, injectable (tests, other name services). */
export interface GroupLookup {
  nameOf(gid: number): Promise<string | undefined>;
  gidOf(name: string): Promise<number | undefined>;
}

export function etcGroupLookup(fs: Pick<MdevFs, 'readText'>, file = '/etc/group'): GroupLookup {
  let table: Promise<[string, number][]> | undefined;
  const load = () =>
    (table ??= fs.readText(file).then(
      (t) =>
        t
          .split('\n')
          .map((l) => l.split(':'))
          .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!))
          .map((f) => [f[0]!, Number(f[2])] as [string, number]),
      () => [],
    ));
  return {
    nameOf: async (gid) => (await load()).find(([, g]) => g === gid)?.[0],
    gidOf: async (name) => (await load()).find(([n]) => n === name)?.[1],
  };
}

export interface HostCheckDeps {
  fs: MdevFs;
  roots: MdevRoots;
  native: NativeHost;
  groups: GroupLookup;
  /** Login name, for the fixes. */
  user: string;
  /** uname -r. */
  kernelRelease: string;
  cpuVendor?: 'intel' | 'amd';
}

const inGroup = (native: NativeHost, gid: number): boolean | undefined => {
  const groups = native.getgroups();
  if (!groups) return undefined;
  return groups.includes(gid) || native.getgid() === gid;
};

export async function checkIommu(d: HostCheckDeps, mdevGroups: Set<string>, vendors: MdevVendor[]): Promise<MdevCheck> {
  const title = 'IOMMU enabled';
  const groups = (await listDir(d.fs, under(d.roots.sysfsRoot, '/sys/kernel/iommu_groups'))) ?? [];
  // Every mdev gets an IOMMU group of its own from the kernel, IOMMU or not: only other groups
  // prove a hardware IOMMU is on.
  const hardware = groups.filter((g) => !mdevGroups.has(g));
  if (hardware.length > 0)
    return { id: 'iommu', title, status: 'pass', detail: `The IOMMU is on (${hardware.length} IOMMU groups).` };
  const samplesOnly = vendors.length > 0 && vendors.every((v) => v === 'mtty' || v === 'mdpy' || v === 'mbochs');
  return {
    id: 'iommu',
    title,
    status: samplesOnly ? 'warn' : 'fail',
    detail: samplesOnly
      ? 'No hardware IOMMU is on (/sys/kernel/iommu_groups has only mediated devices). The kernel sample drivers work without it; real vGPUs (GVT-g, NVIDIA) need it.'
      : 'No IOMMU is on: /sys/kernel/iommu_groups is empty. vGPUs (GVT-g, NVIDIA) need the IOMMU.',
    fix: iommuFix(d.cpuVendor),
  };
}

export async function checkVfioModules(d: HostCheckDeps): Promise<MdevCheck> {
  const title = 'VFIO kernel modules loaded';
  const sys = under(d.roots.sysfsRoot, '/sys');
  const has = (m: string) => exists(d.fs, path.join(sys, 'module', m));
  const missing: string[] = [];
  if (!(await has('vfio'))) missing.push('vfio');
  // iommufd (Linux 6.2+) can stand in for type1 as the container backend.
  if (
    !(await has('vfio_iommu_type1')) &&
    !((await has('iommufd')) && (await exists(d.fs, under(d.roots.devRoot, '/dev/vfio/vfio'))))
  )
    missing.push('vfio_iommu_type1');
  // The mdev core has no module parameters, so when built in it shows only as /sys/bus/mdev.
  if (!(await has('mdev')) && !(await exists(d.fs, path.join(sys, 'bus/mdev')))) missing.push('mdev');
  if (needsVfioMdevModule(d.kernelRelease) && !(await has('vfio_mdev'))) missing.push('vfio_mdev');
  if (missing.length === 0) {
    const note = needsVfioMdevModule(d.kernelRelease)
      ? ''
      : ` (vfio_mdev is part of the mdev core since Linux 5.16; this is ${d.kernelRelease})`;
    return { id: 'vfio-modules', title, status: 'pass', detail: `vfio, vfio_iommu_type1 and mdev are loaded${note}.` };
  }
  return {
    id: 'vfio-modules',
    title,
    status: 'fail',
    detail: `Not loaded: ${missing.join(', ')}.`,
    fix: modulesFix(missing),
  };
}

type NodeState =
  { state: 'ok' } | { state: 'missing' } | { state: 'denied'; gid?: number; groupRw: boolean; errno?: string };

async function nodeAccess(fs: MdevFs, p: string): Promise<NodeState> {
  let st;
  try {
    st = await fs.stat(p);
  } catch {
    return { state: 'missing' };
  }
  try {
    await fs.access(p, 'read');
    await fs.access(p, 'write');
    return { state: 'ok' };
  } catch (err) {
    const errno = errnoOf(err);
    return { state: 'denied', gid: st.gid, groupRw: (st.mode & 0o060) === 0o060, ...(errno ? { errno } : {}) };
  }
}

/** The fix for a VFIO node this user cannot open: join its group when the group may already open
 * it, otherwise the udev rule (and joining kvm when needed). */
async function vfioNodeFix(d: HostCheckDeps, node: string, s: Extract<NodeState, { state: 'denied' }>) {
  const kvmGid = await d.groups.gidOf(VFIO_GROUP);
  if (s.groupRw && s.gid !== undefined && s.gid !== 0) {
    const name = (await d.groups.nameOf(s.gid)) ?? String(s.gid);
    return groupFix(name, d.user, node);
  }
  return udevFix(d.user, kvmGid === undefined ? undefined : inGroup(d.native, kvmGid));
}

export async function checkVfioContainer(d: HostCheckDeps): Promise<MdevCheck> {
  const title = '/dev/vfio/vfio usable';
  const node = under(d.roots.devRoot, '/dev/vfio/vfio');
  const s = await nodeAccess(d.fs, node);
  if (s.state === 'ok')
    return { id: 'vfio-container', title, status: 'pass', detail: `${node} can be read and written by you.` };
  if (s.state === 'missing')
    return {
      id: 'vfio-container',
      title,
      status: 'fail',
      detail: `${node} does not exist: the vfio module is not loaded.`,
      fix: modulesFix(['vfio']),
    };
  return {
    id: 'vfio-container',
    title,
    status: 'fail',
    detail: `You cannot open ${node} for reading and writing (${s.errno ?? 'denied'}).`,
    fix: await vfioNodeFix(d, node, s),
  };
}

/**
 * vmdesk's rule file and whether the matcher it runs is installed. The matcher is looked for under
 * the same root as the files the helper writes (etcRoot), as the helper's test root does.
 */
async function vfioRule(d: HostCheckDeps) {
  const root = d.roots.etcRoot ?? '/';
  let text;
  try {
    text = await d.fs.readText(under(root, UDEV_RULES_FILE));
  } catch {
    return undefined;
  }
  const matcher = await d.fs.stat(under(root, UDEV_MATCHER)).then(
    (st) => st.isFile && st.uid === 0 && (st.mode & 0o022) === 0,
    () => false,
  );
  return { kind: vfioRuleKind(text), matcher };
}

/**
 * vmdesk's udev rule, when its file exists. The old broad rule is a problem whatever this VM needs:
 * it lets every member of kvm open passthrough devices (whole GPUs, network cards, disk controllers
 * bound to vfio-pci), which can read and write any memory they are given through DMA.
 */
export async function checkVfioRule(d: HostCheckDeps): Promise<MdevCheck | undefined> {
  const base = { id: 'vfio-rule' as const, title: 'VFIO udev rule' };
  const rule = await vfioRule(d);
  if (rule?.kind === 'broad')
    return {
      ...base,
      status: 'warn',
      detail: `${UDEV_RULES_FILE} opens every VFIO group, including passthrough devices, to group ${VFIO_GROUP}: anyone in ${VFIO_GROUP} can open a GPU, network card or disk controller bound to vfio-pci. This is the rule earlier vmdesk versions wrote; the new one opens only the groups of mediated devices.`,
      fix: broadRuleFix(d.user, await kvmMembership(d)),
    };
  if (rule?.kind !== 'narrow') return undefined;
  if (!rule.matcher)
    return {
      ...base,
      status: 'warn',
      detail: `${UDEV_RULES_FILE} asks ${UDEV_MATCHER} which VFIO groups belong to mediated devices, and that file is missing (or not root's alone), so udev opens no VFIO group to group ${VFIO_GROUP}.`,
      fix: matcherFix(),
    };
  return {
    ...base,
    status: 'pass',
    detail: `${UDEV_RULES_FILE} opens to group ${VFIO_GROUP} only the VFIO groups of mediated devices; passthrough (vfio-pci) groups stay root's.`,
  };
}

/** `/dev/vfio/<group>` of a device that exists; without a group (not created yet), vmdesk's rule
 * or else whether the mdev groups that do exist (`mdevGroups`) are usable predicts the new one. */
export async function checkVfioGroup(
  d: HostCheckDeps,
  uuid: string,
  group: string | undefined,
  mdevGroups: ReadonlySet<string>,
): Promise<MdevCheck> {
  const title = 'VFIO group usable';
  const dir = under(d.roots.devRoot, '/dev/vfio');
  if (group === undefined) {
    const rule = await vfioRule(d);
    if (rule?.kind === 'narrow' && rule.matcher) {
      const member = await kvmMembership(d);
      if (member !== false)
        return {
          id: 'vfio-group',
          title,
          status: 'pass',
          device: uuid,
          detail: `The device does not exist yet; vmdesk's udev rule will give its VFIO group to group ${VFIO_GROUP}${member ? ', which you are in' : ''}.`,
        };
      return {
        id: 'vfio-group',
        title,
        status: 'warn',
        device: uuid,
        detail: `The device does not exist yet; vmdesk's udev rule will give its VFIO group to group ${VFIO_GROUP}, which you are not in.`,
        fix: groupFix(VFIO_GROUP, d.user, 'Its VFIO group (once created)'),
      };
    }
    // Passthrough groups stay root's under the rule: only mdev groups say what a new one will be.
    const others = ((await listDir(d.fs, dir)) ?? []).filter(
      (n) => n !== 'vfio' && /^\d+$/.test(n) && mdevGroups.has(n),
    );
    const states = await Promise.all(others.map((n) => nodeAccess(d.fs, path.join(dir, n))));
    if (states.length > 0 && states.every((s) => s.state === 'ok')) {
      return {
        id: 'vfio-group',
        title,
        status: 'pass',
        device: uuid,
        detail: `The device does not exist yet; the VFIO groups that do exist (${others.join(', ')}) are yours to open, so its group will be too.`,
      };
    }
    return {
      id: 'vfio-group',
      title,
      status: 'warn',
      device: uuid,
      detail:
        'The device does not exist yet, so its /dev/vfio/<group> cannot be checked. New VFIO groups belong to root (0600) unless a udev rule says otherwise.',
      fix: udevFix(d.user, await kvmMembership(d)),
    };
  }
  const node = path.join(dir, group);
  const s = await nodeAccess(d.fs, node);
  if (s.state === 'ok')
    return {
      id: 'vfio-group',
      title,
      status: 'pass',
      device: uuid,
      detail: `${node} (IOMMU group ${group}) can be read and written by you.`,
    };
  if (s.state === 'missing') {
    return {
      id: 'vfio-group',
      title,
      status: 'fail',
      device: uuid,
      detail: `${node} does not exist although the device is in IOMMU group ${group}: vfio_iommu_type1 or the mdev VFIO driver is not loaded.`,
      fix: modulesFix(['vfio_iommu_type1']),
    };
  }
  return {
    id: 'vfio-group',
    title,
    status: 'fail',
    device: uuid,
    detail: `You cannot open ${node} for reading and writing (${s.errno ?? 'denied'}); QEMU runs as you and needs it.`,
    fix: await vfioNodeFix(d, node, s),
  };
}

async function kvmMembership(d: HostCheckDeps): Promise<boolean | undefined> {
  const gid = await d.groups.gidOf(VFIO_GROUP);
  return gid === undefined ? undefined : inGroup(d.native, gid);
}

/** VFIO pins guest RAM: the rule libvirt applies to mdev as to PCI assignment (RAM + 1 GiB). */
export async function checkMemlock(d: HostCheckDeps, memoryMiB: number): Promise<MdevCheck> {
  const title = 'Locked-memory limit';
  const needed = memlockNeededBytes(memoryMiB * 2 ** 20);
  const r = d.native.getMemlockLimit();
  if (!r.ok)
    return {
      id: 'memlock',
      title,
      status: 'warn',
      detail: `The memlock limit cannot be read (${r.reason}); QEMU needs ${formatBytes(needed)}.`,
      fix: memlockFix(d.user, needed),
    };
  const { soft, hard } = r.value;
  const enough = (v: number | 'unlimited') => v === 'unlimited' || v >= needed;
  if (enough(soft))
    return {
      id: 'memlock',
      title,
      status: 'pass',
      detail: `RLIMIT_MEMLOCK is ${formatBytes(soft)}; this VM needs ${formatBytes(needed)} (guest RAM + 1 GiB).`,
    };
  if (enough(hard)) {
    return {
      id: 'memlock',
      title,
      status: 'pass',
      detail: `The soft limit (${formatBytes(soft)}) is below the ${formatBytes(needed)} this VM needs, but the hard limit (${formatBytes(hard)}) allows it: vmdesk raises the soft limit before starting QEMU.`,
    };
  }
  const written = await writtenMemlockKiB(d);
  if (written !== undefined && (written === 'unlimited' || written * KIB >= needed)) {
    return {
      id: 'memlock',
      title,
      status: 'fail',
      detail: `The hard memlock limit of this session (${formatBytes(hard)}) is below the ${formatBytes(needed)} this VM needs. The fix is already in place (${memlockDropIn(d.user)} allows ${written === 'unlimited' ? 'unlimited' : formatBytes(written * KIB)}), but limits apply from the next login.`,
      fix: { text: 'Log out and back in (or restart the computer), then start vmdesk again.', privileged: false },
    };
  }
  return {
    id: 'memlock',
    title,
    status: 'fail',
    detail: `The hard memlock limit (${formatBytes(hard)}) is below the ${formatBytes(needed)} this VM needs (guest RAM ${formatBytes(memoryMiB * 2 ** 20)} + 1 GiB): QEMU could not pin the guest's memory.`,
    fix: memlockFix(d.user, needed),
  };
}

/** The hard memlock vmdesk's fix wrote for this user (limits.d drop-in), in KiB; undefined when none. */
async function writtenMemlockKiB(d: HostCheckDeps): Promise<number | 'unlimited' | undefined> {
  const text = await d.fs.readText(under(d.roots.etcRoot ?? '/', memlockDropIn(d.user))).catch(() => '');
  const re = new RegExp(
    `^\\s*${d.user.replace(/[.]/g, '\\.')}\\s+hard\\s+memlock\\s+(\\d+|unlimited|infinity)\\s*$`,
    'm',
  );
  const m = re.exec(text);
  if (!m) return undefined;
  return /^\d+$/.test(m[1]!) ? Number(m[1]) : 'unlimited';
}

export function checkQemuVfio(caps: QemuCaps | { error: string } | undefined): MdevCheck {
  const title = 'QEMU has vfio-pci';
  if (!caps || 'error' in caps)
    return {
      id: 'qemu-vfio',
      title,
      status: 'warn',
      detail: `QEMU's capabilities are unknown${caps ? `: ${caps.error}` : ''}.`,
    };
  if (caps.devices.vfioPci)
    return {
      id: 'qemu-vfio',
      title,
      status: 'pass',
      detail: `${caps.binary} (${caps.version}) has the vfio-pci device.`,
    };
  return {
    id: 'qemu-vfio',
    title,
    status: 'fail',
    detail: `${caps.binary} (${caps.version}) was built without vfio-pci, so it cannot use mediated devices.`,
    fix: {
      text: `install your distribution's QEMU package (built with VFIO), or point ${caps.arch === 'x86_64' ? 'VMDESK_QEMU_X86_64' : 'VMDESK_QEMU_AARCH64'} at a QEMU built with VFIO (CONFIG_VFIO_PCI).`,
      privileged: true,
    },
  };
}

/** The render node of the GPU at `pciAddress` (/sys/class/drm/renderD*\/device), if any. */
export async function renderNodeFor(
  fs: MdevFs,
  roots: MdevRoots,
  pciAddress: string | undefined,
): Promise<string | undefined> {
  if (!pciAddress) return undefined;
  const drm = under(roots.sysfsRoot, '/sys/class/drm');
  for (const n of (await listDir(fs, drm)) ?? []) {
    if (n.startsWith('renderD') && (await linkBasename(fs, path.join(drm, n, 'device'))) === pciAddress)
      return `/dev/dri/${n}`;
  }
  return undefined;
}

/** egl-headless opens a render node as this user: one must exist and be usable. */
export async function checkRenderNode(
  d: HostCheckDeps,
  uuid: string,
  preferred: string | undefined,
): Promise<MdevCheck> {
  const title = 'Display: OpenGL render node for egl-headless';
  const dri = under(d.roots.devRoot, '/dev/dri');
  const nodes = ((await listDir(d.fs, dri)) ?? []).filter((n) => n.startsWith('renderD'));
  const ordered = preferred
    ? [path.basename(preferred), ...nodes.filter((n) => n !== path.basename(preferred))]
    : nodes;
  let denied: { node: string; s: Extract<NodeState, { state: 'denied' }> } | undefined;
  for (const n of ordered) {
    const node = path.join(dri, n);
    const s = await nodeAccess(d.fs, node);
    if (s.state === 'ok')
      return {
        id: 'display',
        title,
        status: 'pass',
        device: uuid,
        detail: `The vGPU's display is a dma-buf; QEMU shows it through -display egl-headless on ${node}.`,
      };
    if (s.state === 'denied') denied ??= { node, s };
  }
  if (!denied) {
    return {
      id: 'display',
      title,
      status: 'fail',
      device: uuid,
      detail: `The vGPU's display is a dma-buf, which QEMU can show only through OpenGL (-display egl-headless), and there is no render node in ${dri}: load the GPU's DRM driver.`,
    };
  }
  const group = denied.s.gid !== undefined ? ((await d.groups.nameOf(denied.s.gid)) ?? String(denied.s.gid)) : 'render';
  return {
    id: 'display',
    title,
    status: 'fail',
    device: uuid,
    detail: `The vGPU's display needs -display egl-headless, which opens ${denied.node}, and you cannot (${denied.s.errno ?? 'denied'}).`,
    fix: groupFix(group, d.user, denied.node),
  };
}
