/**
 * The door through which the VM layer starts, finds and ends QEMU processes. The real one
 * (`nodeQemuLauncher`) spawns detached processes; tests inject a typed fake
 * (qemu/testing/fake-launcher.ts) to drive every state change and failure edge of a VM.
 */
import type { ChildProcess } from 'node:child_process';
import { findQemuByUuid, isOurQemu, pidExists, sendSignal, spawnDetached, waitForExit } from './process.js';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One QEMU process, spawned by this driver or adopted from an earlier one. */
export interface QemuProcess {
  readonly pid: number;
  /**
   * Our child's exit status. Undefined for an adopted process (not our child: its death is seen
   * through its QMP socket closing, then `waitForExit`).
   */
  readonly exit?: Promise<ProcessExit>;
  /** Resolves true once the process is gone, false after `timeoutMs` (or when `signal` aborts). */
  waitForExit(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Sends a signal; false if the process is already gone. */
  kill(signal: NodeJS.Signals): boolean;
}

export interface QemuLauncher {
  /**
   * Spawns QEMU detached (it outlives the driver) with stdout and stderr appended to `logFile`.
   * MUST reject, with the OS's error code (ENOENT, EACCES, E2BIG...), when no process started.
   */
  spawn(binary: string, argv: readonly string[], logFile: string): Promise<QemuProcess>;
  /** A process an earlier driver started. */
  adopt(pid: number): QemuProcess;
  /** The pid is alive and runs the QEMU started for this VM (its `-uuid`), not a recycled pid. */
  isOurQemu(pid: number, vmId: string): boolean;
  /** The QEMU whose command line carries `-uuid <vmId>`, where the platform can tell. */
  findByUuid(vmId: string): number | undefined;
  pidExists(pid: number): boolean;
}

function childProcess(pid: number, child: ChildProcess): QemuProcess {
  const exit = new Promise<ProcessExit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid,
    exit,
    waitForExit: (ms, signal) => waitForExit({ pid, child }, ms, signal),
    kill: (sig) => sendSignal(pid, sig),
  };
}

export const nodeQemuLauncher: QemuLauncher = {
  async spawn(binary, argv, logFile) {
    const { pid, child } = await spawnDetached(binary, [...argv], logFile);
    return childProcess(pid, child!);
  },
  adopt(pid) {
    return { pid, waitForExit: (ms, signal) => waitForExit({ pid }, ms, signal), kill: (sig) => sendSignal(pid, sig) };
  },
  isOurQemu,
  findByUuid: findQemuByUuid,
  pidExists,
};
