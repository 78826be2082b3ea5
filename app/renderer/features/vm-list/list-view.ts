/**
 * What the VM list shows and in which order: the search box's filter, the sort (kept in
 * localStorage), and the OS a VM runs as the list names and draws it. Pure, so it is tested
 * without a page.
 */
import type { VmState, VmSummary } from '../../../main/common/vm-types.js';

export type SortKey = 'name' | 'state' | 'lastUsed';
export const SORT_LABELS: Record<SortKey, string> = { name: 'By name', state: 'By state', lastUsed: 'By last use' };
const SORT_STORAGE_KEY = 'vmdesk.vmList.sort';

/** An OS family as the list draws it: a colour and a monogram (no vendor logos). */
export interface OsKind {
  key: string;
  /** Shown in the tooltip and matched by the search box ("debian", "windows"). */
  label: string;
  mark: string;
  colour: string;
}

const OS_KINDS: (OsKind & { match: RegExp })[] = [
  { key: 'windows', label: 'Windows', mark: 'W', colour: '#0f6cbd', match: /\bwin(dows)?|mswindows|microsoft/ },
  { key: 'ubuntu', label: 'Ubuntu', mark: 'U', colour: '#e95420', match: /ubuntu|kubuntu|xubuntu|lubuntu/ },
  { key: 'debian', label: 'Debian', mark: 'D', colour: '#c70036', match: /debian/ },
  { key: 'fedora', label: 'Fedora', mark: 'F', colour: '#3c6eb4', match: /fedora|silverblue/ },
  { key: 'rhel', label: 'Red Hat', mark: 'R', colour: '#cc0000', match: /redhat|\brhel|red hat/ },
  { key: 'centos', label: 'CentOS', mark: 'C', colour: '#932279', match: /centos|rocky|almalinux|\bol\d|oracle/ },
  { key: 'opensuse', label: 'openSUSE', mark: 'S', colour: '#5aa02c', match: /suse|sles|sled/ },
  { key: 'arch', label: 'Arch Linux', mark: 'A', colour: '#1793d1', match: /\barch(linux)?\b|manjaro|endeavour/ },
  { key: 'alpine', label: 'Alpine', mark: 'Al', colour: '#0d597f', match: /alpine/ },
  { key: 'mint', label: 'Linux Mint', mark: 'M', colour: '#69a13c', match: /\bmint/ },
  { key: 'nixos', label: 'NixOS', mark: 'N', colour: '#5277c3', match: /nixos/ },
  { key: 'bsd', label: 'BSD', mark: 'B', colour: '#ab2b28', match: /bsd|dragonfly/ },
  { key: 'macos', label: 'macOS', mark: 'M', colour: '#555555', match: /macos|darwin|os x/ },
  { key: 'linux', label: 'Linux', mark: 'L', colour: '#4a4a52', match: /linux|gnu|kernel/ },
];

/**
 * The OS a VM runs: the one the create wizard recognised (definition.os, osinfo id and name), else
 * the one its guest agent reports while it runs, else a guess from its installer's file name and
 * its own name; undefined when nothing says.
 */
export function osOf(vm: VmSummary): (OsKind & { name: string }) | undefined {
  const d = vm.definition;
  const recognised = d?.os ? `${d.os.id} ${d.os.name}`.toLowerCase() : '';
  // What the guest agent says while it runs (a VM made by hand has no recognised OS).
  const agentOs = vm.guest?.info?.os;
  const agentName = agentOs?.prettyName ?? agentOs?.name;
  const agent = agentOs ? `${agentOs.id ?? ''} ${agentName ?? ''}`.toLowerCase() : '';
  const guess = [...(d?.cdroms ?? []).map((p) => p?.split('/').pop() ?? ''), vm.name].join(' ').toLowerCase();
  for (const text of [recognised, agent, guess]) {
    if (!text.trim()) continue;
    const k = OS_KINDS.find((o) => o.match.test(text));
    if (k) {
      const { match: _m, ...kind } = k;
      const name = text === recognised ? d?.os?.name : text === agent ? agentName : undefined;
      return { ...kind, name: name ?? kind.label };
    }
  }
  return d?.os
    ? { key: 'other', label: d.os.name, mark: d.os.name.slice(0, 1).toUpperCase(), colour: '#6b6b76', name: d.os.name }
    : undefined;
}

/**
 * The VMs the search box lets through: every word of `query` found in the VM's name, its OS, or
 * its state (so "running", "win paused" work), case and accents ignored.
 */
export function filterVms(vms: readonly VmSummary[], query: string): VmSummary[] {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...vms];
  return vms.filter((vm) => {
    const os = osOf(vm);
    const hay = fold([vm.name, vm.state, os?.name ?? '', os?.label ?? ''].join(' '));
    return words.every((w) => hay.includes(w));
  });
}

const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/** Live VMs first, then those that need a look, then the rest. */
const STATE_ORDER: Record<VmState, number> = {
  running: 0,
  paused: 1,
  starting: 2,
  stopping: 3,
  crashed: 4,
  broken: 5,
  stopped: 6,
};

const LIVE: readonly VmState[] = ['running', 'paused', 'starting', 'stopping'];

/**
 * When a VM was last used (ms since the epoch): a live one is in use now (`live`) and ordered by
 * when it started; another by when it last stopped (`lastRunAt`) or its screen was last seen
 * running (the thumbnail's time, `seenAt`), whichever is later, else by when it was created.
 */
export function lastUsedAt(vm: VmSummary, seenAt: string | undefined): { live: boolean; at: number } {
  const live = LIVE.includes(vm.state);
  const time = (t: string | undefined) => {
    const n = Date.parse(t ?? '');
    return Number.isFinite(n) ? n : 0;
  };
  const at = live ? time(vm.startedAt) : Math.max(time(vm.lastRunAt), time(seenAt)) || time(vm.definition?.createdAt);
  return { live, at };
}

/** `vms` in `key` order (ties by name); `seen`: the thumbnails' times by VM id. */
export function sortVms(
  vms: readonly VmSummary[],
  key: SortKey,
  seen: (id: string) => string | undefined = () => undefined,
): VmSummary[] {
  const byName = (a: VmSummary, b: VmSummary) => a.name.localeCompare(b.name);
  const out = [...vms];
  if (key === 'name') return out.sort(byName);
  if (key === 'state') return out.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || byName(a, b));
  const used = new Map(out.map((vm) => [vm.id, lastUsedAt(vm, seen(vm.id))]));
  return out.sort((a, b) => {
    const x = used.get(a.id)!;
    const y = used.get(b.id)!;
    return Number(y.live) - Number(x.live) || y.at - x.at || byName(a, b);
  });
}

export function loadSort(storage: Pick<Storage, 'getItem'> | undefined = safeStorage()): SortKey {
  const v = storage?.getItem(SORT_STORAGE_KEY);
  return v === 'state' || v === 'lastUsed' || v === 'name' ? v : 'name';
}

export function saveSort(key: SortKey, storage: Pick<Storage, 'setItem'> | undefined = safeStorage()): void {
  try {
    storage?.setItem(SORT_STORAGE_KEY, key);
  } catch {
    // A full or disabled storage: the choice lasts until the page reloads.
  }
}

function safeStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
