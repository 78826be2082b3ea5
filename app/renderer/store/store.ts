/**
 * The one store, made of slices. Components read it through narrow selectors (with useShallow
 * when a selector builds an object or array); everything that changes it is a module function
 * in actions.ts.
 */
import { useStore } from 'zustand';
import { createStore } from 'zustand/vanilla';
import type { ConnectionState } from '../../main/common/api.js';
import { LOCAL_HOST_ID, type HostConnection } from '../../main/common/connection-types.js';
import type { SnapshotInfo } from '../../main/common/contract.js';
import type { HostReport } from '../../main/common/host-types.js';
import type { IsoPlan } from '../../main/common/iso-types.js';
import type { AppSettings } from '../../main/common/settings-types.js';
import type { VmSummary } from '../../main/common/vm-types.js';

export type { HostReport, IsoPlan };
export type TabId = 'overview' | 'settings' | 'snapshots' | 'screen' | 'serial' | 'logs';
export type DialogId = 'new-vm' | 'host' | 'connections' | 'delete' | 'vgpu' | 'vgpu-check' | 'iso-library';
export type VmAction = 'start' | 'shutdown' | 'stop' | 'pause' | 'resume' | 'reboot';
export type BusyWith = VmAction | 'delete' | 'eject' | 'unassign' | 'disk' | 'cdrom' | 'snapshot';

export interface VmsSlice {
  /** Full summaries by id, as the driver last sent them (vm.list or vm.changed). */
  vms: Record<string, VmSummary>;
  listLoaded: boolean;
  /** The call in flight per VM id, so its buttons wait. */
  busy: Record<string, BusyWith>;
}

export interface UiSlice {
  selectedId: string | null;
  /** The VM that was on screen when it was deleted (the main pane says so). */
  removed: { id: string; name: string } | null;
  tab: TabId;
  dialog: DialogId | null;
  /** The message of the last failed call, until dismissed. */
  error: string | null;
  /** The VM `error` is about (a start that failed, an eject refused), or null for the app as a
   * whole. Such an error shows while its VM is selected, and goes with the VM when it is deleted. */
  errorVm: string | null;
  /** A VM whose Snapshots tab should open its Take dialog (the app menu's Take snapshot…). */
  takeSnapshotFor: string | null;
  /** An action that waits for the user's yes (Force off, Reboot: see the confirm* settings). */
  confirmAction: { vmId: string; action: ConfirmedAction } | null;
}

/** The actions that lose the guest's unsaved work, and so may ask first. */
export type ConfirmedAction = 'stop' | 'reboot';

export interface SettingsSlice {
  /** The app settings in force (settings.get at each connection, and after each save); null until read. */
  settings: AppSettings | null;
}

export interface HostSlice {
  host: HostReport | null;
  hostLoading: boolean;
  hostError: string | null;
}

export interface HostsSlice {
  /** The hosts vmdesk shows VMs of, in the driver's order: this computer first, then libvirt connections. */
  hosts: HostConnection[];
  /** Why the last connect or disconnect of a host failed (the driver's sentence), by host id, until one works. */
  hostErrors: Record<string, string>;
  /** The host call in flight, by host id, so its buttons wait. */
  hostBusy: Record<string, 'connect' | 'disconnect'>;
}

export interface ConnectionSlice {
  connection: ConnectionState;
  /** Whether the connection was ever open: "Connecting" before, "Reconnecting" after. */
  wasOpen: boolean;
}

/** The create-from-ISO wizard: where a dropped or picked ISO is on its way to a VM. */
export type WizardStep =
  | { step: 'upload'; fileName: string; loaded: number; total: number; startedAt: number }
  | { step: 'inspect'; fileName: string }
  /** `creating`: vm.create is running (`known`: the VM ids before it, to spot the new one). */
  | { step: 'form'; plan: IsoPlan; creating?: { name: string; start: boolean; known: string[] } }
  /** `discarded`: the file was uploaded for nothing, and the server deleted it again. */
  | { step: 'failed'; fileName: string; message: string; discarded?: boolean };

export interface WizardSlice {
  wizard: WizardStep | null;
  /** A file is dragged over the window (the drop overlay shows). */
  dragging: boolean;
  /** The VM (its list row or its view) under a dragged file: a drop there inserts the ISO into it. */
  dragOverVm: string | null;
}

/**
 * An ISO dropped on a VM, on its way into one of its CD-ROM drives: uploaded first in a browser,
 * then inserted into the first empty drive, or the user chooses a drive when none is empty.
 */
export type IsoDropStep =
  | { step: 'upload'; vmId: string; fileName: string; loaded: number; total: number }
  | { step: 'choose'; vmId: string; fileName: string; path: string }
  | { step: 'inserting'; vmId: string; fileName: string; path: string }
  | { step: 'failed'; vmId: string; fileName: string; message: string }
  | { step: 'done'; vmId: string; fileName: string; message: string };

export interface IsoDropSlice {
  isoDrop: IsoDropStep | null;
}

export interface SnapshotsSlice {
  /** Each VM's snapshots by VM id, as the driver last sent them (snapshot.list or snapshot.changed);
   * absent until the VM's Snapshots tab first asks. */
  snapshots: Record<string, SnapshotInfo[]>;
  /** Why a VM's snapshots could not be read, by VM id, until they are. */
  snapshotsError: Record<string, string>;
}

export type VmdeskState = VmsSlice &
  UiSlice &
  HostSlice &
  HostsSlice &
  ConnectionSlice &
  WizardSlice &
  IsoDropSlice &
  SnapshotsSlice &
  SettingsSlice;

export function initialState(): VmdeskState {
  return {
    vms: {},
    listLoaded: false,
    busy: {},
    selectedId: null,
    removed: null,
    tab: 'overview',
    dialog: null,
    error: null,
    errorVm: null,
    takeSnapshotFor: null,
    confirmAction: null,
    settings: null,
    host: null,
    hostLoading: false,
    hostError: null,
    hosts: [],
    hostErrors: {},
    hostBusy: {},
    connection: 'connecting',
    wasOpen: false,
    wizard: null,
    dragging: false,
    dragOverVm: null,
    isoDrop: null,
    snapshots: {},
    snapshotsError: {},
  };
}

export const store = createStore<VmdeskState>()(() => initialState());

export function useVmdesk<T>(selector: (s: VmdeskState) => T): T {
  return useStore(store, selector);
}

/** VMs in display order: by name, the way people scan a list. */
export function sortedVms(vms: Record<string, VmSummary>): VmSummary[] {
  return Object.values(vms).sort(
    (a, b) =>
      a.name.localeCompare(b.name, undefined, { sensitivity: 'base', numeric: true }) || a.id.localeCompare(b.id),
  );
}

/** One host's part of the VM list. */
export interface VmGroup {
  id: string;
  label: string;
  /** Absent while vmdesk does not know the host yet (its VMs came before its connection). */
  host?: HostConnection;
  vms: VmSummary[];
}

const LOCAL_LABEL = 'This computer';

/**
 * The VM list by host: this computer first (always, even empty), then each libvirt connection in
 * the driver's order, then any host a VM names that the connections do not list yet. Each group
 * is sorted by name.
 */
export function groupVms(vms: Record<string, VmSummary>, hosts: readonly HostConnection[]): VmGroup[] {
  const local = hosts.find((h) => h.id === LOCAL_HOST_ID);
  const groups = new Map<string, VmGroup>([
    [LOCAL_HOST_ID, { id: LOCAL_HOST_ID, label: local?.label ?? LOCAL_LABEL, host: local, vms: [] }],
  ]);
  for (const h of hosts) if (!groups.has(h.id)) groups.set(h.id, { id: h.id, label: h.label, host: h, vms: [] });
  for (const vm of sortedVms(vms)) {
    const id = vm.host?.id ?? LOCAL_HOST_ID;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { id, label: vm.host?.label ?? id, vms: [] }));
    g.vms.push(vm);
  }
  return [...groups.values()];
}

/** VMs in the order the list shows them (by host, then by name): what arrow keys and "the next VM" follow. */
export function listedVms(vms: Record<string, VmSummary>, hosts: readonly HostConnection[]): VmSummary[] {
  return groupVms(vms, hosts).flatMap((g) => g.vms);
}

export const selectSelectedVm = (s: VmdeskState): VmSummary | undefined =>
  s.selectedId ? s.vms[s.selectedId] : undefined;

/** The error the main pane shows: an app-wide one, or one about the selected VM. */
export const visibleError = (s: VmdeskState): string | null =>
  s.errorVm === null || s.errorVm === s.selectedId ? s.error : null;
