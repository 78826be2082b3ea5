/**
 * The console session manager: sessions keyed by VM id + kind, kept in an LRU of 4 so switching
 * tabs or VMs keeps a console as it was; what the LRU evicts is disposed (channel closed). It
 * follows the store: a VM that runs again, or a connection that comes back, gets its consoles
 * reconnected; a VM that is gone (vm.removed, or missing from a refetched list) closes them.
 */
import type { VmdeskApi } from '../../../main/common/api.js';
import type { VmState, VmSummary } from '../../../main/common/vm-types.js';
import { store } from '../../store/store.js';
import type { ConsoleKind, ConsoleSession } from './console-session.js';
import { writeClipboard } from './host-clipboard.js';
import { Lru } from './lru.js';
import { guestFollowsWindow } from './screen-model.js';
import { SerialSession } from './serial-session.js';
import { VncSession } from './vnc-session.js';

export const MAX_SESSIONS = 4;
export const DELETED_MESSAGE = 'This VM was deleted.';

const sessions = new Lru<ConsoleSession>(MAX_SESSIONS, (s) => !s.attached);
let api: VmdeskApi | null = null;

/** States in which the driver serves consoles. */
export const consoleAvailable = (state: VmState | undefined): boolean => state === 'running' || state === 'paused';
const isLive = (vmId: string) => () => consoleAvailable(store.getState().vms[vmId]?.state);

export function initConsoleSessions(a: VmdeskApi): () => void {
  api = a;
  let prev = store.getState();
  return store.subscribe((s) => {
    const before = prev;
    prev = s;
    if (s.vms === before.vms && s.connection === before.connection) return;
    const reconnected = s.connection === 'open' && before.connection !== 'open';
    for (const [k, session] of sessions.entries()) {
      const vm = s.vms[session.vmId];
      if (!vm) {
        if (!s.listLoaded) continue;
        sessions.delete(k);
        session.dispose(DELETED_MESSAGE);
      } else if (consoleAvailable(vm.state) && (reconnected || !consoleAvailable(before.vms[vm.id]?.state))) {
        session.vmRunning();
      }
    }
  });
}

/** The session for this VM's console, created (and connected) on first use. */
export function getConsoleSession(vm: VmSummary, kind: 'serial'): SerialSession;
export function getConsoleSession(vm: VmSummary, kind: 'vnc'): VncSession;
export function getConsoleSession(vm: VmSummary, kind: ConsoleKind): ConsoleSession {
  if (!api) throw new Error('initConsoleSessions() was not called');
  const k = `${vm.id}:${kind}`;
  let s = sessions.get(k);
  if (s) {
    if (consoleAvailable(vm.state)) s.vmRunning();
    return s;
  }
  s =
    kind === 'serial'
      ? new SerialSession(api, vm.id, isLive(vm.id))
      : new VncSession(api, vm.id, isLive(vm.id), {
          resizeSession: guestFollowsWindow(vm.definition?.display),
          clipboardOn: () => store.getState().vms[vm.id]?.definition?.clipboard === true,
          writeClipboard,
        });
  for (const evicted of sessions.set(k, s)) evicted.dispose();
  return s;
}
