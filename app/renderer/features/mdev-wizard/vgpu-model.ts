/**
 * The "Graphics: vGPU" wizard's decisions, apart from React: which types can be picked and why
 * not, which existing devices are free, the assignment it proposes, and how a doctor report reads
 * in one line. The verdicts themselves come from the driver's doctor (mdev.check), never from here.
 */
import type { CallResults } from '../../../main/common/contract.js';
import type { MdevAssignment } from '../../../main/common/vm-types.js';

/** The mdev layer's types, as the contract carries them (the renderer sees main/ only through common/). */
export type MdevCheckReport = CallResults['mdev.check'];
export type MdevCheck = MdevCheckReport['checks'][number];
export type MdevInventory = CallResults['mdev.list'];
export type MdevParent = MdevInventory['parents'][number];
export type MdevType = MdevParent['types'][number];
export type MdevDevice = MdevInventory['devices'][number];
export type MdevDisplayKind = MdevType['display'];

export type WizardStep = 'parent' | 'type' | 'device' | 'check' | 'done';
export const STEPS: { id: WizardStep; label: string }[] = [
  { id: 'parent', label: 'Device' },
  { id: 'type', label: 'Type' },
  { id: 'device', label: 'Instance' },
  { id: 'check', label: 'Check' },
];

const VENDOR_WORDS: Partial<Record<MdevParent['vendor'], string>> = { 'intel-gvtg': 'Intel GPU', nvidia: 'NVIDIA GPU' };

/** Names from pci.ids when the host has the file (pciutils/hwdata), else what the driver tells. */
export function parentTitle(p: MdevParent): string {
  if (p.pci)
    return (
      [p.pci.vendorName, p.pci.deviceName].filter(Boolean).join(' ') ||
      `${VENDOR_WORDS[p.vendor] ?? 'PCI device'} ${p.pci.vendorId}:${p.pci.deviceId}`
    );
  return `${p.name} (kernel sample driver)`;
}

export function parentSubtitle(p: MdevParent): string {
  return [
    p.pci ? p.name : undefined,
    p.driver ? `driver ${p.driver}` : undefined,
    `${p.types.length} type${p.types.length === 1 ? '' : 's'}`,
  ]
    .filter(Boolean)
    .join(' · ');
}

export const DISPLAY_LABEL: Record<MdevDisplayKind, string> = {
  region: 'Shows in the console',
  dmabuf: 'Shows in the console (OpenGL)',
  none: 'No console display',
};

/** Devices of `type` that no VM uses (they can be assigned as they are). */
export function unusedInstances(inv: MdevInventory, type: MdevType): MdevDevice[] {
  return type.instances.flatMap((u) => {
    const d = inv.devices.find((x) => x.uuid === u);
    return d && d.usedBy.length === 0 ? [d] : [];
  });
}

export interface TypeRow {
  type: MdevType;
  label: string;
  /** From the driver: "1920x1200, 128+512 MiB graphics memory"; empty when the description has no known fields. */
  summary: string;
  free: number | undefined;
  unused: number;
  /** Why it cannot be picked; undefined when it can. */
  blocked?: string;
}

export function typeRows(inv: MdevInventory, parent: MdevParent): TypeRow[] {
  return parent.types.map((t) => {
    const unused = unusedInstances(inv, t).length;
    const free = t.availableInstances;
    let blocked: string | undefined;
    if (t.deviceApi !== undefined && t.deviceApi !== 'vfio-pci')
      blocked = `${t.deviceApi} device: only vfio-pci can be assigned`;
    else if (unused === 0 && !t.canCreate) blocked = 'cannot be created (no create file)';
    else if (unused === 0 && free === 0) blocked = 'none left: remove an unused device or pick a smaller type';
    return {
      type: t,
      label: t.name && t.name !== t.id ? `${t.name} (${t.id})` : t.id,
      summary: t.summary,
      free,
      unused,
      ...(blocked ? { blocked } : {}),
    };
  });
}

/** What the instance step starts with: a free existing device first (no root needed), else a new one. */
export function defaultInstance(inv: MdevInventory, type: MdevType): string | 'new' {
  return unusedInstances(inv, type)[0]?.uuid ?? 'new';
}

export function proposal(parent: MdevParent, type: MdevType, uuid: string, display: boolean): MdevAssignment {
  return { uuid: uuid.toLowerCase(), parent: parent.name, type: type.id, display: display && type.display !== 'none' };
}

/** "Ready", "Ready, 1 warning", "2 problems to fix". */
export function reportHeadline(r: Pick<MdevCheckReport, 'checks'>): { tone: 'ok' | 'warn' | 'bad'; text: string } {
  const fails = r.checks.filter((c) => c.status === 'fail').length;
  const warns = r.checks.filter((c) => c.status === 'warn').length;
  if (fails > 0)
    return {
      tone: 'bad',
      text: `${fails} problem${fails === 1 ? '' : 's'} to fix${warns ? `, ${warns} warning${warns === 1 ? '' : 's'}` : ''}`,
    };
  if (warns > 0) return { tone: 'warn', text: `Ready, ${warns} warning${warns === 1 ? '' : 's'}` };
  return { tone: 'ok', text: 'Ready' };
}

/** The status words of the check list (the CLI prints the same verdicts as [ ok ], [warn], [FAIL]). */
export const STATUS_LABEL: Record<MdevCheck['status'], string> = { pass: 'OK', warn: 'Warning', fail: 'Problem' };

const RANK: Record<MdevCheck['status'], number> = { fail: 0, warn: 1, pass: 2 };

/** Problems first, then warnings, then what passed; the doctor's order within each. */
export function problemsFirst(checks: readonly MdevCheck[]): MdevCheck[] {
  return checks
    .map((c, i) => ({ c, i }))
    .sort((a, b) => RANK[a.c.status] - RANK[b.c.status] || a.i - b.i)
    .map((x) => x.c);
}
