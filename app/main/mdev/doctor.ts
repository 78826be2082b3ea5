/**
 * The mdev doctor: for a VM and its assigned mediated devices, every condition QEMU needs, each
 * as a verdict with the exact fix. The driver runs it before starting a VM with mdevs and stops
 * with its message; the CLI (`vmdesk mdev check`) and the wizard show it.
 *
 * MUST NOT change anything (it reads sysfs, /dev and limits only).
 */
import { VmdeskError } from '../common/errors.js';
import type { MdevAssignment, VmDefinition } from '../common/vm-types.js';
import type { QemuCaps } from '../common/host-types.js';
import { assignmentDisplayKind, displayKindOf, vendorOf } from './describe.js';
import {
  checkIommu,
  checkMemlock,
  checkQemuVfio,
  checkRenderNode,
  checkVfioContainer,
  checkVfioGroup,
  checkVfioModules,
  checkVfioRule,
  renderNodeFor,
  type HostCheckDeps,
} from './host-checks.js';
import type { MdevCheck, MdevFixAction, MdevInventory, MdevParent } from '../common/mdev-types.js';

export interface OtherVm {
  id: string;
  name: string;
  running: boolean;
  mdevs: readonly Pick<MdevAssignment, 'uuid'>[];
}

export interface MdevDoctorInput extends HostCheckDeps {
  vm: Pick<VmDefinition, 'id' | 'name' | 'memoryMiB' | 'display'> & { mdevs?: readonly MdevAssignment[] };
  /** The other VMs: which run, and what they assign. */
  others: readonly OtherVm[];
  caps: QemuCaps | { error: string } | undefined;
  inventory: MdevInventory;
  /** Check these instead of vm.mdevs (the wizard, before it saves an assignment). */
  assignments?: readonly MdevAssignment[];
}

export function describeParent(p: MdevParent): string {
  const what = p.pci
    ? [p.pci.vendorName, p.pci.deviceName].filter(Boolean).join(' ') || `${p.pci.vendorId}:${p.pci.deviceId}`
    : 'kernel sample driver';
  return `${p.name} (${p.driver ? `${p.driver}: ` : ''}${what})`;
}

function checkParent(inv: MdevInventory, a: MdevAssignment): MdevCheck {
  const base = { id: 'parent' as const, title: `Parent ${a.parent} offers ${a.type}`, device: a.uuid };
  const parent = inv.parents.find((p) => p.name === a.parent);
  const note = inv.notes.find((n) => n.device === a.parent);
  if (!parent) {
    return {
      ...base,
      status: 'fail',
      detail: note
        ? note.text
        : `${a.parent} offers no mediated devices right now: its driver is not loaded, or the device is gone. Run \`vmdesk mdev list\` to see what this host offers.`,
      ...(note?.fix ? { fix: note.fix } : {}),
    };
  }
  if (parent.types.length === 0) {
    return {
      ...base,
      status: 'fail',
      detail:
        note?.text ??
        `${describeParent(parent)} lists no mdev types${parent.hasTypesDir ? '' : ' (it has no mdev_supported_types directory)'}.`,
      ...(note?.fix ? { fix: note.fix } : {}),
    };
  }
  const type = parent.types.find((t) => t.id === a.type);
  if (!type)
    return {
      ...base,
      status: 'fail',
      detail: `${describeParent(parent)} has no type ${a.type}; it offers ${parent.types.map((t) => t.id).join(', ')}.`,
    };
  if (type.deviceApi && type.deviceApi !== 'vfio-pci') {
    return {
      ...base,
      status: 'fail',
      detail: `${a.type} is a ${type.deviceApi} device; vmdesk assigns only vfio-pci devices.`,
    };
  }
  const summary = type.summary;
  return {
    ...base,
    status: 'pass',
    detail: `${describeParent(parent)} offers ${a.type}${type.name ? ` (${type.name}${summary ? `: ${summary}` : ''})` : ''}.`,
  };
}

function checkInstances(inv: MdevInventory, a: MdevAssignment, exists: boolean): MdevCheck | undefined {
  const base = { id: 'instances' as const, title: `An instance of ${a.type} is available`, device: a.uuid };
  if (exists) return { ...base, status: 'pass', detail: `${a.uuid} already exists, so no new instance is needed.` };
  const type = inv.parents.find((p) => p.name === a.parent)?.types.find((t) => t.id === a.type);
  if (!type) return undefined; // the parent check says why
  if (!type.canCreate)
    return {
      ...base,
      status: 'fail',
      detail: `${a.type} on ${a.parent} has no create file, so the kernel cannot create instances of it.`,
    };
  if (type.availableInstances === undefined) {
    return {
      ...base,
      status: 'warn',
      detail: `How many ${a.type} instances are left is unknown (${type.problems.join('; ') || 'available_instances unreadable'}); creating one may fail.`,
    };
  }
  if (type.availableInstances === 0) {
    const existing = type.instances.map((u) => {
      const users = inv.devices.find((d) => d.uuid === u)?.usedBy.map((v) => v.name) ?? [];
      return users.length ? `${u} (${users.join(', ')})` : `${u} (unused)`;
    });
    return {
      ...base,
      status: 'fail',
      detail: `No ${a.type} instances are left on ${a.parent}${existing.length ? `; existing: ${existing.join(', ')}` : ' (other types on the same GPU use up its resources)'}.`,
      fix: {
        text: 'remove an unused device of this GPU (vmdesk mdev remove UUID), or choose a smaller type',
        privileged: true,
      },
    };
  }
  return {
    ...base,
    status: 'pass',
    detail: `${type.availableInstances} more ${a.type} instance${type.availableInstances === 1 ? '' : 's'} can be created on ${a.parent}.`,
  };
}

/** `creatable`: the parent offers the type and an instance is free (else creating would only be refused). */
function checkDevice(i: MdevDoctorInput, a: MdevAssignment, creatable: boolean): MdevCheck {
  const uuid = a.uuid.toLowerCase();
  const base = { id: 'device' as const, title: `Device ${uuid} ready`, device: a.uuid };
  const dev = i.inventory.devices.find((d) => d.uuid === uuid);
  if (!dev && !creatable) {
    return {
      ...base,
      status: 'fail',
      detail: `${uuid} (${a.type} on ${a.parent}) does not exist, and it cannot be created until the problems above with ${a.parent} are solved.`,
    };
  }
  if (!dev) {
    const action: MdevFixAction = { kind: 'create', parent: a.parent, type: a.type, uuid };
    return {
      ...base,
      status: 'fail',
      detail: `${uuid} (${a.type} on ${a.parent}) does not exist yet; creating it needs root once.`,
      fix: {
        text: 'create it (one password prompt)',
        command: `vmdesk mdev create --parent ${a.parent} --type ${a.type} --uuid ${uuid}`,
        privileged: true,
        action,
      },
    };
  }
  if ((dev.type && dev.type !== a.type) || (dev.parent && dev.parent !== a.parent)) {
    return {
      ...base,
      status: 'fail',
      detail: `${uuid} exists but is a ${dev.type ?? '?'} on ${dev.parent ?? '?'}, while ${i.vm.name} expects a ${a.type} on ${a.parent}.`,
      fix: {
        text: `remove it (vmdesk mdev remove ${uuid}) and create the right one, or assign a new device to ${i.vm.name}`,
        privileged: true,
      },
    };
  }
  const running = i.others.filter(
    (o) => o.id !== i.vm.id && o.running && o.mdevs.some((m) => m.uuid.toLowerCase() === uuid),
  );
  if (running.length) {
    return {
      ...base,
      status: 'fail',
      detail: `${uuid} is in use by the running VM "${running[0]!.name}"; a mediated device serves one VM at a time.`,
      fix: { text: `shut down "${running[0]!.name}", or assign another device of this type`, privileged: false },
    };
  }
  const stopped = i.others.filter(
    (o) => o.id !== i.vm.id && !o.running && o.mdevs.some((m) => m.uuid.toLowerCase() === uuid),
  );
  const where = `${dev.type ?? a.type}${dev.iommuGroup ? `, IOMMU group ${dev.iommuGroup}` : ''}`;
  if (stopped.length)
    return {
      ...base,
      status: 'warn',
      detail: `${uuid} exists (${where}); it is also assigned to ${stopped.map((o) => `"${o.name}"`).join(', ')}, and only one of them can run at a time.`,
    };
  return { ...base, status: 'pass', detail: `${uuid} exists (${where}).` };
}

async function checkDisplay(i: MdevDoctorInput, a: MdevAssignment): Promise<MdevCheck | undefined> {
  const base = { id: 'display' as const, title: 'Display in the VM console', device: a.uuid };
  const family = vendorOf(a.type);
  if (a.display && family !== 'other' && displayKindOf(family) === 'none') {
    return {
      ...base,
      status: 'warn',
      detail: `${a.type} has no display QEMU can show${family === 'nvidia' ? ' (NVIDIA vGPUs stream their display through the guest driver and a remote-desktop client)' : ''}; it is assigned without one.`,
    };
  }
  const kind = assignmentDisplayKind(a.type, a.display);
  if (kind === 'none') return undefined;
  if (i.vm.display === 'none')
    return {
      ...base,
      status: 'warn',
      detail: `${i.vm.name} has no display (headless), so the vGPU's screen is not shown anywhere; the vGPU still works inside the guest.`,
    };
  if (kind === 'region')
    return {
      ...base,
      status: 'pass',
      detail: `${a.type} exposes a framebuffer region, which the VNC console shows without OpenGL.`,
    };
  return checkRenderNode(i, a.uuid, await renderNodeFor(i.fs, i.roots, a.parent));
}

/** Every verdict for `vm` (or the given assignments), in the order a person fixes them. */
export async function checkMdev(i: MdevDoctorInput): Promise<MdevCheck[]> {
  const assignments = i.assignments ?? i.vm.mdevs ?? [];
  const exists = (a: MdevAssignment) => i.inventory.devices.some((d) => d.uuid === a.uuid.toLowerCase());
  const mdevGroups = new Set(i.inventory.devices.flatMap((d) => (d.iommuGroup ? [d.iommuGroup] : [])));
  const out: (MdevCheck | undefined)[] = [];
  const parents = assignments.map((a) => checkParent(i.inventory, a));
  out.push(...parents);
  out.push(
    await checkIommu(
      i,
      mdevGroups,
      assignments.map((a) => vendorOf(a.type)),
    ),
  );
  out.push(await checkVfioModules(i), await checkVfioContainer(i));
  for (const [n, a] of assignments.entries()) {
    const instances = checkInstances(i.inventory, a, exists(a));
    out.push(instances, checkDevice(i, a, parents[n]!.status === 'pass' && instances?.status !== 'fail'));
    const dev = i.inventory.devices.find((d) => d.uuid === a.uuid.toLowerCase());
    out.push(await checkVfioGroup(i, a.uuid, dev?.iommuGroup, mdevGroups));
  }
  out.push(await checkVfioRule(i));
  out.push(await checkMemlock(i, i.vm.memoryMiB), checkQemuVfio(i.caps));
  for (const a of assignments) out.push(await checkDisplay(i, a));
  return out.filter((c): c is MdevCheck => c !== undefined);
}

/** The helper actions that fix every failing (and warning) check in one prompt, each once. */
export function fixActions(checks: readonly MdevCheck[]): MdevFixAction[] {
  const seen = new Set<string>();
  const out: MdevFixAction[] = [];
  for (const c of checks) {
    const a = c.fix?.action;
    if (c.status === 'pass' || !a) continue;
    const key = JSON.stringify(a);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(a);
  }
  return out;
}

/** For the driver: throws when a check fails, with every failure and its fix in the message. */
export function assertMdevReady(vmName: string, checks: readonly MdevCheck[]): void {
  const failed = checks.filter((c) => c.status === 'fail');
  if (failed.length === 0) return;
  const lines = failed.map(
    (c) => `- ${c.title}: ${c.detail}${c.fix ? `\n  Fix: ${c.fix.command ?? c.fix.text.split('\n')[0]}` : ''}`,
  );
  throw new VmdeskError(
    'unsupported',
    `"${vmName}" cannot start: its mediated device${failed.length > 1 ? 's are' : ' is'} not ready.\n${lines.join('\n')}\nRun \`vmdesk mdev check "${vmName}"\` for details${fixActions(checks).length ? `, or \`vmdesk mdev check "${vmName}" --fix\` to apply the fixes vmdesk can make with one password prompt` : ''}.`,
    { checks: failed },
  );
}
