/**
 * Everything that changes the store. connectStore() wires the api's events into it; the other
 * functions are what the UI calls. Errors from calls land in `error` with the driver's message,
 * which already says what to do.
 */
import { vmCommandAllowed, type VmdeskApi } from '../../main/common/api.js';
import { LOCAL_HOST_ID, type HostConnection } from '../../main/common/connection-types.js';
import type { CallParams, SnapshotInfo } from '../../main/common/contract.js';
import { VmdeskError } from '../../main/common/errors.js';
import { DEFAULT_SETTINGS, type SettingsReport } from '../../main/common/settings-types.js';
import type { VmSummary } from '../../main/common/vm-types.js';
import {
  listedVms,
  store,
  initialState,
  type BusyWith,
  type ConfirmedAction,
  type DialogId,
  type TabId,
  type VmAction,
  type VmdeskState,
} from './store.js';

let api: VmdeskApi | null = null;
/** One per vm.list in flight: the VM events seen meanwhile (null = removed), newer than the list. */
const eventsDuringFetch = new Set<Map<string, VmSummary | null>>();
/** snapshot.changed events seen per VM id: a snapshot.list answer older than one is dropped. */
const snapshotEvents = new Map<string, number>();

export function requireApi(): VmdeskApi {
  if (!api) throw new Error('connectStore() was not called');
  return api;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Subscribes the store to the api. Returns a disposer (tests call it, the page never does). */
export function connectStore(a: VmdeskApi): () => void {
  api = a;
  const offEvent = a.onEvent((name, data) => {
    if (name === 'vm.changed') applyVmChanged(data as VmSummary);
    else if (name === 'vm.removed') applyVmRemoved((data as { id: string }).id);
    else if (name === 'host.connectionChanged') applyHostChanged(data as HostConnection & { removed?: boolean });
    else if (name === 'snapshot.changed') {
      const e = data as { vm: string; snapshots: SnapshotInfo[] };
      applySnapshotsChanged(e.vm, e.snapshots);
    }
  });
  const offConn = a.onConnection((connection) => {
    const before = store.getState().connection;
    store.setState(connection === 'open' ? { connection, wasOpen: true } : { connection });
    // Events missed while disconnected are gone: the list is the truth again.
    if (connection === 'open' && before !== 'open') {
      void refetchVms();
      void loadHosts();
      void loadSettings();
      for (const id of Object.keys(store.getState().snapshots)) void loadSnapshots(id);
    }
  });
  return () => {
    offEvent();
    offConn();
    api = null;
  };
}

/** For tests: forget everything. */
export function resetStore(): void {
  store.setState(initialState(), true);
  eventsDuringFetch.clear();
  snapshotEvents.clear();
  api = null;
}

/** The host a VM lives on: a libvirt connection's id, or `local`. */
const hostIdOf = (vm: VmSummary) => vm.host?.id ?? LOCAL_HOST_ID;

/** Whether the store knows `hostId` as a host that is not connected now (its VMs are not listed). */
function knownOffline(s: VmdeskState, hostId: string): boolean {
  const h = s.hosts.find((x) => x.id === hostId);
  return h !== undefined && h.state !== 'connected';
}

/**
 * Reads the VM list again: all of it, or only `host`'s VMs (a libvirt connection that came up).
 * Events that arrive meanwhile are newer than the answer and win over it.
 */
export async function refetchVms(host?: string): Promise<void> {
  const seen = new Map<string, VmSummary | null>();
  eventsDuringFetch.add(seen);
  let list: VmSummary[];
  try {
    list = await requireApi().call('vm.list', host ? { host } : {});
  } catch (err) {
    // A lost connection refetches when it comes back; anything else is worth saying.
    if (!(err instanceof VmdeskError && err.code === 'cancelled')) showError(messageOf(err));
    return;
  } finally {
    eventsDuringFetch.delete(seen);
  }
  const s = store.getState();
  const vms: Record<string, VmSummary> = {};
  // A host's list replaces that host's VMs only.
  if (host) for (const vm of Object.values(s.vms)) if (hostIdOf(vm) !== host) vms[vm.id] = vm;
  for (const vm of list) vms[vm.id] = vm;
  for (const [id, vm] of seen) {
    if (vm) vms[id] = vm;
    else delete vms[id];
  }
  // A host that dropped while the list was on its way has no VMs to show.
  for (const vm of Object.values(vms)) if (knownOffline(s, hostIdOf(vm))) delete vms[vm.id];
  const lost = s.selectedId && !vms[s.selectedId] ? s.vms[s.selectedId] : undefined;
  const selectedId =
    s.selectedId && vms[s.selectedId] ? s.selectedId : lost || host ? null : (listedVms(vms, s.hosts)[0]?.id ?? null);
  const errorGone = s.errorVm !== null && !vms[s.errorVm];
  store.setState({
    vms,
    listLoaded: true,
    selectedId,
    ...(lost ? { removed: { id: lost.id, name: lost.name } } : {}),
    ...(errorGone ? { error: null, errorVm: null } : {}),
  });
}

export function applyVmChanged(vm: VmSummary): void {
  for (const seen of eventsDuringFetch) seen.set(vm.id, vm);
  store.setState((s) => ({ vms: { ...s.vms, [vm.id]: vm } }));
}

export function applyVmRemoved(id: string): void {
  for (const seen of eventsDuringFetch) seen.set(id, null);
  store.setState((s) => {
    const gone = s.vms[id];
    if (!gone) return {};
    const vms = { ...s.vms };
    delete vms[id];
    const snapshots = { ...s.snapshots };
    delete snapshots[id];
    const wasSelected = s.selectedId === id;
    const errorGoes = s.errorVm === id;
    return {
      vms,
      snapshots,
      ...(errorGoes ? { error: null, errorVm: null } : {}),
      selectedId: wasSelected ? null : s.selectedId,
      removed: wasSelected ? { id, name: gone.name } : s.removed,
      dialog: wasSelected && s.dialog === 'delete' ? null : s.dialog,
    };
  });
}

/** The VM a snapshot.changed event names: its id, or (from an older driver) its name. */
function vmIdOf(ref: string): string {
  const vms = store.getState().vms;
  return vms[ref] ? ref : (Object.values(vms).find((v) => v.name === ref)?.id ?? ref);
}

/** A VM's snapshots as the driver pushed them (all of them, as now). */
export function applySnapshotsChanged(vm: string, list: SnapshotInfo[]): void {
  const id = vmIdOf(vm);
  snapshotEvents.set(id, (snapshotEvents.get(id) ?? 0) + 1);
  setSnapshots(id, list);
}

function setSnapshots(id: string, list: SnapshotInfo[]): void {
  store.setState((s) => {
    const snapshotsError = { ...s.snapshotsError };
    delete snapshotsError[id];
    return { snapshots: { ...s.snapshots, [id]: list }, snapshotsError };
  });
}

/**
 * Reads a VM's snapshots (its Snapshots tab opened, or the connection came back). An answer that
 * a snapshot.changed event overtook is dropped: the event is newer.
 */
export async function loadSnapshots(id: string): Promise<void> {
  const seen = snapshotEvents.get(id) ?? 0;
  let list: SnapshotInfo[];
  try {
    list = await requireApi().call('snapshot.list', { vm: id });
  } catch (err) {
    if (err instanceof VmdeskError && err.code === 'cancelled') return;
    if (store.getState().vms[id])
      store.setState((s) => ({ snapshotsError: { ...s.snapshotsError, [id]: messageOf(err) } }));
    return;
  }
  if ((snapshotEvents.get(id) ?? 0) !== seen || !store.getState().vms[id]) return;
  setSnapshots(id, list);
}

export function selectVm(id: string | null): void {
  store.setState({ selectedId: id, removed: null });
}

export function selectTab(tab: TabId): void {
  store.setState({ tab });
}

/** Asks the VM's Snapshots tab to open its Take dialog (null: the request was taken). */
export function setTakeSnapshotFor(id: string | null): void {
  store.setState({ takeSnapshotFor: id });
}

export function openDialog(dialog: DialogId): void {
  store.setState({ dialog });
}

export function closeDialog(): void {
  store.setState({ dialog: null });
}

/** Shows `message` in the main pane: about VM `vmId` (shown while it is selected), or about the app. */
export function showError(message: string, vmId: string | null = null): void {
  store.setState({ error: message, errorVm: vmId });
}

export function dismissError(): void {
  store.setState({ error: null, errorVm: null });
}

export function setBusy(id: string, what: BusyWith | null): void {
  store.setState((s) => {
    const busy = { ...s.busy };
    if (what) busy[id] = what;
    else delete busy[id];
    return { busy };
  });
}

/** The app settings in force, for what the page decides by them (confirmations, defaults). */
export async function loadSettings(): Promise<void> {
  try {
    setSettings(await requireApi().call('settings.get', {}));
  } catch {
    // The page works without them: it asks before Force off and Reboot, as the defaults say.
  }
}

export function setSettings(report: SettingsReport): void {
  store.setState({ settings: report.values });
}

const CONFIRM_SETTING: Record<ConfirmedAction, 'confirmForceOff' | 'confirmReset'> = {
  stop: 'confirmForceOff',
  reboot: 'confirmReset',
};

/**
 * An action the user asked for in the window (toolbar, menu, shortcut): Force off and Reboot ask
 * first unless Preferences say not to (ConfirmActionDialog), the others run at once.
 */
export function requestVmAction(id: string, action: VmAction): void {
  if (action !== 'stop' && action !== 'reboot') {
    void runVmAction(id, action);
    return;
  }
  // The settings as they are now ("Do not ask again" in the tray, the CLI or another page).
  void loadSettings().then(() => {
    const settings = store.getState().settings;
    if (settings?.[CONFIRM_SETTING[action]] ?? DEFAULT_SETTINGS[CONFIRM_SETTING[action]])
      store.setState({ confirmAction: { vmId: id, action } });
    else void runVmAction(id, action);
  });
}

/** The user's answer to ConfirmActionDialog; `dontAsk`: never again (saved in the settings). */
export async function answerConfirmAction(yes: boolean, dontAsk = false): Promise<void> {
  const pending = store.getState().confirmAction;
  store.setState({ confirmAction: null });
  if (!pending || !yes) return;
  // The VM may have changed meanwhile (the guest shut itself down): nothing to force then.
  const vm = store.getState().vms[pending.vmId];
  if (!vm || !vmCommandAllowed(pending.action, vm.state)) return;
  const run = runVmAction(pending.vmId, pending.action);
  if (dontAsk) {
    try {
      setSettings(await requireApi().call('settings.set', { values: { [CONFIRM_SETTING[pending.action]]: false } }));
    } catch (err) {
      showError(`The action ran, but "do not ask again" could not be saved: ${messageOf(err)}`);
    }
  }
  await run;
}

/** Start, shut down, force off, pause, resume, reboot: the result is the VM's new summary. */
export async function runVmAction(id: string, action: VmAction): Promise<void> {
  setBusy(id, action);
  dismissError();
  try {
    const vm = await requireApi().call(`vm.${action}`, { vm: id });
    if (store.getState().vms[vm.id]) applyVmChanged(vm);
  } catch (err) {
    if (store.getState().vms[id]) showError(messageOf(err), id);
  } finally {
    setBusy(id, null);
  }
}

/** Takes the disc out of CD-ROM drive `drive` (the first unless given), running or not. */
export async function ejectIso(id: string, drive?: number): Promise<void> {
  setBusy(id, 'eject');
  dismissError();
  try {
    applyVmChanged(await requireApi().call('vm.eject', drive === undefined ? { vm: id } : { vm: id, drive }));
  } catch (err) {
    if (store.getState().vms[id]) showError(messageOf(err), id);
  } finally {
    setBusy(id, null);
  }
}

/**
 * A device change of the Settings view (a disk, a CD-ROM drive): marks the VM busy, shows the
 * answer, and throws a refusal to the card that asked (it names a field or says what to do).
 */
async function deviceCall(id: string, what: 'disk' | 'cdrom', call: () => Promise<VmSummary>): Promise<VmSummary> {
  setBusy(id, what);
  try {
    const vm = await call();
    if (store.getState().vms[vm.id]) applyVmChanged(vm);
    return vm;
  } finally {
    setBusy(id, null);
  }
}

/** A new qcow2 of `sizeBytes`, or the existing image at `path`; a running VM gets it at once. */
export function addDisk(id: string, disk: { sizeBytes: number } | { path: string }): Promise<VmSummary> {
  return deviceCall(id, 'disk', () => requireApi().call('vm.addDisk', { vm: id, ...disk }));
}

/** Detaches disk `target`; `deleteFile` deletes it too (the driver does so only for files it made). */
export function removeDisk(id: string, target: string, deleteFile: boolean): Promise<VmSummary> {
  return deviceCall(id, 'disk', () => requireApi().call('vm.removeDisk', { vm: id, target, deleteFile }));
}

/** Grows disk `target` to `sizeBytes` (the driver refuses to shrink it). */
export function resizeDisk(id: string, target: string, sizeBytes: number): Promise<VmSummary> {
  return deviceCall(id, 'disk', () => requireApi().call('vm.resizeDisk', { vm: id, target, sizeBytes }));
}

/** Puts `iso` into CD-ROM drive `drive`: at once in a running VM that has the drive. */
export function insertCdrom(id: string, iso: string, drive: number): Promise<VmSummary> {
  return deviceCall(id, 'cdrom', () => requireApi().call('vm.insertCdrom', { vm: id, iso, drive }));
}

/** Takes the disc out of drive `drive`; refusals are thrown to the card. */
export function ejectCdrom(id: string, drive: number): Promise<VmSummary> {
  return deviceCall(id, 'cdrom', () => requireApi().call('vm.eject', { vm: id, drive }));
}

/** Gives the VM `count` CD-ROM drives (fewer drops the last ones with their discs). */
export function setCdromDrives(id: string, count: number): Promise<VmSummary> {
  return deviceCall(id, 'cdrom', () => requireApi().call('vm.update', { vm: id, cdromDrives: count }));
}

/** Takes a mediated device off a stopped VM (the device itself stays; `vmdesk mdev remove` removes it). */
export async function unassignMdev(id: string, uuid: string): Promise<void> {
  setBusy(id, 'unassign');
  dismissError();
  try {
    applyVmChanged(await requireApi().call('mdev.unassign', { vm: id, uuid }));
  } catch (err) {
    if (store.getState().vms[id]) showError(messageOf(err), id);
  } finally {
    setBusy(id, null);
  }
}

/** Deletes a VM and selects its neighbour in the list. Resolves false on failure (shown). */
export async function deleteVm(id: string, keepDisks: boolean): Promise<boolean> {
  const order = listedVms(store.getState().vms, store.getState().hosts).map((v) => v.id);
  const at = order.indexOf(id);
  setBusy(id, 'delete');
  try {
    await requireApi().call('vm.delete', { vm: id, keepDisks });
  } catch (err) {
    showError(messageOf(err), id);
    return false;
  } finally {
    setBusy(id, null);
  }
  applyVmRemoved(id);
  const rest = order.filter((x) => x !== id && store.getState().vms[x]);
  const next = rest[Math.min(Math.max(at, 0), rest.length - 1)] ?? null;
  store.setState({ selectedId: next, removed: null, dialog: null });
  return true;
}

/** Creates a VM and selects it. Errors are thrown to the dialog (they name a field). */
export async function defineVm(input: CallParams<'vm.define'>): Promise<VmSummary> {
  const vm = await requireApi().call('vm.define', input);
  applyVmChanged(vm);
  store.setState({ selectedId: vm.id, removed: null, tab: 'overview', dialog: null });
  return vm;
}

/**
 * Saves the changed settings of a VM (vm.update) and shows its new summary. Refusals are thrown
 * to the form: they name a field, or say that the VM changed since the form was loaded.
 */
export async function updateVm(input: CallParams<'vm.update'>): Promise<VmSummary> {
  const vm = await requireApi().call('vm.update', input);
  if (store.getState().vms[vm.id]) applyVmChanged(vm);
  return vm;
}

/** Reads one VM again (a settings form that went stale shows what is on disk now). */
export async function reloadVm(id: string): Promise<VmSummary> {
  const vm = await requireApi().call('vm.get', { vm: id });
  if (store.getState().vms[vm.id]) applyVmChanged(vm);
  return vm;
}

export async function loadHostReport(): Promise<void> {
  store.setState({ hostLoading: true, hostError: null });
  try {
    const host = await requireApi().call('host.info', {});
    store.setState({ host, hostLoading: false });
  } catch (err) {
    store.setState({ hostError: messageOf(err), hostLoading: false });
  }
}

/** The hosts, as the driver lists them (at start and after a reconnect: events missed are gone). */
export async function loadHosts(): Promise<void> {
  let hosts: HostConnection[];
  try {
    hosts = await requireApi().call('host.connections', {});
  } catch (err) {
    if (!(err instanceof VmdeskError && err.code === 'cancelled')) showError(messageOf(err));
    return;
  }
  setHosts(hosts);
}

/**
 * Takes `hosts` as the list of hosts, and drops the VMs of every libvirt host that is not
 * connected in it (gone, dropped, failed): vm.list lists the VMs of connected hosts only. A
 * selected VM that goes leaves nothing selected (it was not deleted: the main pane says choose).
 */
function setHosts(hosts: HostConnection[]): void {
  store.setState((s) => {
    const up = new Set(hosts.filter((h) => h.state === 'connected').map((h) => h.id));
    up.add(LOCAL_HOST_ID);
    const gone = Object.values(s.vms).filter((vm) => !up.has(hostIdOf(vm)));
    if (gone.length === 0) return { hosts };
    const vms = { ...s.vms };
    for (const vm of gone) delete vms[vm.id];
    const lostSelected = s.selectedId !== null && !vms[s.selectedId];
    const errorGone = s.errorVm !== null && !vms[s.errorVm];
    return {
      hosts,
      vms,
      ...(errorGone ? { error: null, errorVm: null } : {}),
      selectedId: lostSelected ? null : s.selectedId,
      dialog: lostSelected && s.dialog === 'delete' ? null : s.dialog,
    };
  });
}

/**
 * A host connection as the driver pushed it (host.connectionChanged, or the answer of
 * host.connect): replaced in place, added at the end, or gone (`removed`). A host that comes up
 * has its VMs read; one that goes down takes its VMs out of the list.
 */
export function applyHostChanged(change: HostConnection & { removed?: boolean }): void {
  const { removed, ...conn } = change;
  const s = store.getState();
  const before = s.hosts.find((h) => h.id === conn.id);
  const hosts = removed
    ? s.hosts.filter((h) => h.id !== conn.id)
    : before
      ? s.hosts.map((h) => (h.id === conn.id ? conn : h))
      : [...s.hosts, conn];
  if (conn.state === 'connected' || removed) {
    const hostErrors = { ...s.hostErrors };
    delete hostErrors[conn.id];
    store.setState({ hostErrors });
  }
  setHosts(hosts);
  if (!removed && conn.state === 'connected' && before?.state !== 'connected') void refetchVms(conn.id);
}

function setHostBusy(id: string, what: 'connect' | 'disconnect' | null, error?: string): void {
  store.setState((s) => {
    const hostBusy = { ...s.hostBusy };
    if (what) hostBusy[id] = what;
    else delete hostBusy[id];
    if (error === undefined) return { hostBusy };
    return { hostBusy, hostErrors: { ...s.hostErrors, [id]: error } };
  });
}

/**
 * Connects to a libvirt host (Add connection). Resolves with the connection; a refusal (libvirt's
 * words and what to do) is thrown to the form that asked.
 */
export async function connectHost(uri: string, remember: boolean): Promise<HostConnection> {
  const conn = await requireApi().call('host.connect', { uri, remember });
  applyHostChanged(conn);
  return conn;
}

/** Connects a listed host again (after it dropped or failed); a refusal is shown with the host. */
export async function reconnectHost(id: string): Promise<void> {
  const h = store.getState().hosts.find((x) => x.id === id);
  if (!h) return;
  setHostBusy(id, 'connect');
  try {
    applyHostChanged(await requireApi().call('host.connect', { uri: h.uri, remember: h.remembered }));
    setHostBusy(id, null);
  } catch (err) {
    setHostBusy(id, null, messageOf(err));
  }
}

/** Closes a host's connection; `forget`: also out of the settings (it leaves the list). */
export async function disconnectHost(id: string, forget: boolean): Promise<void> {
  setHostBusy(id, 'disconnect');
  try {
    setHosts(await requireApi().call('host.disconnect', { connection: id, forget }));
    setHostBusy(id, null);
  } catch (err) {
    setHostBusy(id, null, messageOf(err));
  }
}
