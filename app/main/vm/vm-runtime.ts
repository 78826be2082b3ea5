/** What the driver knows about one VM while it runs (or not): VmManager's per-VM record. */
import type { VmDefinition, VmState } from '../common/vm-types.js';
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
