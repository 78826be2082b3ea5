/**
 * The tray menu as data: `buildTrayMenu(vms)` is pure (tray.ts turns the template into an
 * Electron Menu, wiring each `action` to a click), so every state is covered by snapshots.
 */
import type { ContractEvents, EventName } from '../common/contract.js';
import type { VmState, VmSummary } from '../common/vm-types.js';

export type VmMethod = 'vm.start' | 'vm.shutdown' | 'vm.stop' | 'vm.pause' | 'vm.resume';

export type TrayAction =
  | { kind: 'call'; method: VmMethod; vm: string }
  | { kind: 'console'; vm: string }
  | { kind: 'show' }
  | { kind: 'quit' }
  /** The "Start vmdesk at login" checkbox was clicked: `enabled` is the state asked for. */
  | { kind: 'loginItem'; enabled: boolean };

/** Shaped like Electron's MenuItemConstructorOptions, with `action` in place of `click`. */
export interface TrayMenuItem {
  label?: string;
  type?: 'separator' | 'checkbox';
  /** A checkbox's state. */
  checked?: boolean;
  enabled?: boolean;
  submenu?: TrayMenuItem[];
  action?: TrayAction;
}

export interface TrayMenu {
  tooltip: string;
  items: TrayMenuItem[];
}

export interface TrayMenuOptions {
  /** Linux and Windows read `&` in a label as a mnemonic marker; macOS shows it. */
  platform: NodeJS.Platform;
  /** More VMs than this are left to the window (a menu taller than the screen helps nobody). */
  maxVms?: number;
  /** While quitting: VM actions are disabled and this line heads the menu. */
  busy?: string;
  /** Whether vmdesk starts (in the tray) at login (shell/login-item.ts); absent: no such item
   * (a platform where vmdesk cannot set it). */
  loginItem?: boolean;
}

/** The checkbox's label. */
export const LOGIN_ITEM_LABEL = 'Start vmdesk at login';

const STATE_LABEL: Record<VmState, string> = {
  stopped: 'stopped',
  starting: 'starting…',
  running: 'running',
  paused: 'paused',
  stopping: 'shutting down…',
  crashed: 'crashed',
  broken: 'cannot be read',
};

/** States in which a QEMU process exists (and so quitting has to ask). */
export const LIVE_STATES: readonly VmState[] = ['starting', 'running', 'paused', 'stopping'];

/** "2 running, 1 paused", "Nothing running", "No VMs yet". */
export function runningSummary(vms: readonly VmSummary[]): string {
  if (vms.length === 0) return 'No VMs yet';
  const running = vms.filter((v) => v.state === 'running' || v.state === 'starting' || v.state === 'stopping').length;
  const paused = vms.filter((v) => v.state === 'paused').length;
  const parts = [running > 0 ? `${running} running` : '', paused > 0 ? `${paused} paused` : ''].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'Nothing running';
}

function vmActions(vm: VmSummary): TrayMenuItem[] {
  const call = (label: string, method: VmMethod): TrayMenuItem => ({
    label,
    action: { kind: 'call', method, vm: vm.id },
  });
  const consoleItem: TrayMenuItem = { label: 'Open console', action: { kind: 'console', vm: vm.id } };
  const sep: TrayMenuItem = { type: 'separator' };
  switch (vm.state) {
    case 'stopped':
    case 'crashed':
      return [call('Start', 'vm.start')];
    case 'starting':
    case 'stopping':
      return [call('Force off', 'vm.stop')];
    case 'running':
      return [
        consoleItem,
        sep,
        call('Pause', 'vm.pause'),
        call('Shut down', 'vm.shutdown'),
        call('Force off', 'vm.stop'),
      ];
    case 'paused':
      return [consoleItem, sep, call('Resume', 'vm.resume'), call('Force off', 'vm.stop')];
    case 'broken':
      return [{ label: 'Its definition cannot be read: see the window', enabled: false }];
  }
}

function disable(items: TrayMenuItem[]): TrayMenuItem[] {
  return items.map((i) => (i.action ? { ...i, enabled: false } : i));
}

export function buildTrayMenu(vms: readonly VmSummary[], opts: TrayMenuOptions): TrayMenu {
  const esc = (s: string) => (opts.platform === 'darwin' ? s : s.replace(/&/g, '&&'));
  const max = opts.maxVms ?? 20;
  const sorted = [...vms].sort(
    (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }) || a.id.localeCompare(b.id),
  );
  const summary = runningSummary(vms);
  const items: TrayMenuItem[] = [{ label: opts.busy ?? summary, enabled: false }];
  if (sorted.length > 0) items.push({ type: 'separator' });
  for (const vm of sorted.slice(0, max)) {
    const actions = vmActions(vm);
    items.push({
      label: `${esc(vm.name)} — ${STATE_LABEL[vm.state]}`,
      submenu: opts.busy ? disable(actions) : actions,
    });
  }
  if (sorted.length > max)
    items.push({ label: `${sorted.length - max} more in the window…`, action: { kind: 'show' } });
  items.push({ type: 'separator' });
  if (opts.loginItem !== undefined)
    items.push({
      label: LOGIN_ITEM_LABEL,
      type: 'checkbox',
      checked: opts.loginItem,
      action: { kind: 'loginItem', enabled: !opts.loginItem },
    });
  items.push(
    { label: 'Show vmdesk', action: { kind: 'show' } },
    { label: 'Quit vmdesk', action: { kind: 'quit' }, enabled: !opts.busy },
  );
  return { tooltip: `vmdesk — ${opts.busy ?? summary}`, items };
}

/** The list after one driver event (events carry full objects: no refetch). */
export function applyVmEvent<E extends EventName>(
  vms: readonly VmSummary[],
  name: E,
  data: ContractEvents[E],
): VmSummary[] {
  if (name === 'vm.removed') {
    const id = (data as ContractEvents['vm.removed']).id;
    return vms.filter((v) => v.id !== id);
  }
  // Other events (a clone's job.progress) are not about the list.
  if (name !== 'vm.changed') return [...vms];
  const vm = data as ContractEvents['vm.changed'];
  return vms.some((v) => v.id === vm.id) ? vms.map((v) => (v.id === vm.id ? vm : v)) : [...vms, vm];
}
