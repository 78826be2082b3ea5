/** What the driver knows about one VM while it runs (or not): VmManager's per-VM record. */
import type { VmDefinition, VmState, VmSummary } from '../common/vm-types.js';
import type { VmFiles } from '../paths/vm-files.js';
import type { SerialHub } from '../consoles/serial-hub.js';
import type { QmpClient } from '../qemu/qmp-client.js';
import type { SpawnedQemu } from '../qemu/process.js';
import type { RunRecord } from './run-record.js';

export interface VmRuntime {
  id: string;
  file: string;
  def?: VmDefinition;
  brokenReason?: string;
  state: VmState;
  reason?: string;
  logTail?: string[];
  proc?: SpawnedQemu;
  qmp?: QmpClient;
  run?: RunRecord;
  serial?: SerialHub;
  /** Set when the VM is expected to exit (we asked, or the guest announced SHUTDOWN). */
  expectingExit: boolean;
  /** The operation in flight, so force off can cancel it. */
  busy?: { op: string; abort: AbortController };
  cleanups: (() => void)[];
  /** Resolves when the current QEMU is gone and cleaned up. */
  exited?: Promise<void>;
}

/** What every client sees of a VM (`files`: its per-VM paths). */
export function summarize(rt: VmRuntime, f: VmFiles): VmSummary {
  const s: VmSummary = { id: rt.id, name: rt.def?.name ?? rt.id, state: rt.state, file: rt.file };
  if (rt.reason) s.reason = rt.reason;
  if (rt.logTail && (rt.logTail.length > 0 || rt.state === 'crashed')) s.logTail = rt.logTail;
  if (rt.def) s.definition = rt.def;
  if (rt.run) {
    s.pid = rt.run.pid;
    s.accel = { accel: rt.run.accel, reason: rt.run.accelReason };
    s.startedAt = rt.run.startedAt;
    s.paths = { qmp: rt.run.qmpSocket, serial: rt.run.serialSocket, vnc: rt.run.vncSocket, qemuLog: f.qemuLog, serialLog: f.serialLog, driverLog: f.driverLog };
  } else if (rt.def) {
    s.paths = { qmp: f.qmpSocket, serial: f.serialSocket, vnc: f.vncSocket, qemuLog: f.qemuLog, serialLog: f.serialLog, driverLog: f.driverLog };
  }
  return s;
}
