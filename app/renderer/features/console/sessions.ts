/**
 * The console session manager: sessions keyed by VM id + kind, kept in an LRU of 4 so switching
 * tabs or VMs keeps a console as it was; what the LRU evicts is disposed (channel closed). It
 * follows the driver's events itself: a VM that runs again gets its consoles reconnected, a
 * deleted VM's sessions close.
 */
import type { VmdeskApi } from '../../../main/common/api.js';
import type { VmState, VmSummary } from '../../../main/common/vm-types.js';
import type { ConsoleKind, ConsoleSession } from './console-session.js';
import { Lru } from './lru.js';
import { SerialSession } from './serial-session.js';
import { VncSession } from './vnc-session.js';

export const MAX_SESSIONS = 4;
export const DELETED_MESSAGE = 'This VM was deleted.';

const sessions = new Lru<ConsoleSession>(MAX_SESSIONS, (s) => !s.attached);
const vmStates = new Map<string, VmState>();
let api: VmdeskApi | null = null;

const key = (vmId: string, kind: ConsoleKind) => `${vmId}:${kind}`;
/** States in which the driver serves consoles. */
export const consoleAvailable = (state: VmState | undefined): boolean => state === 'running' || state === 'paused';

function sessionsOf(vmId: string): [string, ConsoleSession][] {
  return sessions.entries().filter(([, s]) => s.vmId === vmId);
}

export function initConsoleSessions(a: VmdeskApi): () => void {
  api = a;
  return a.onEvent((name, data) => {
    if (name === 'vm.changed') {
      const vm = data as VmSummary;
      vmStates.set(vm.id, vm.state);
      if (consoleAvailable(vm.state)) for (const [, s] of sessionsOf(vm.id)) s.vmRunning();
    } else if (name === 'vm.removed') {
      const { id } = data as { id: string };
      vmStates.delete(id);
      for (const [k, s] of sessionsOf(id)) {
        sessions.delete(k);
        s.dispose(DELETED_MESSAGE);
      }
    }
  });
}

/** The session for this VM's console, created (and connected) on first use. */
export function getConsoleSession(vm: VmSummary, kind: 'serial'): SerialSession;
export function getConsoleSession(vm: VmSummary, kind: 'vnc'): VncSession;
export function getConsoleSession(vm: VmSummary, kind: ConsoleKind): ConsoleSession {
  if (!api) throw new Error('initConsoleSessions() was not called');
  vmStates.set(vm.id, vm.state);
  const k = key(vm.id, kind);
  let s = sessions.get(k);
  if (s) {
    if (consoleAvailable(vm.state)) s.vmRunning();
    return s;
  }
  s = kind === 'serial' ? new SerialSession(api, vm.id) : new VncSession(api, vm.id, () => consoleAvailable(vmStates.get(vm.id)));
  for (const evicted of sessions.set(k, s)) evicted.dispose();
  return s;
}
