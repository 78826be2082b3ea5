/**
 * "Start with vmdesk": when a long-running driver owner starts (the desktop app, `vmdesk web`,
 * `vmdesk driver`; never a one-shot CLI command), it starts the VMs flagged `autostart` — once per
 * login session.
 *
 * Once per session: a marker in the runtime dir (XDG_RUNTIME_DIR, emptied at logout and reboot)
 * says it was done. A driver that starts again in the same session (after a crash, or the app quit
 * and opened again) finds it and starts nothing, so a VM the user stopped on purpose stays stopped.
 * The marker is written before the first start, so a driver that dies in the middle does not
 * start the others twice either. It is taken only when some VM is flagged: a VM flagged later in
 * the session starts at the next driver start (the session had no autostart yet).
 * Without XDG_RUNTIME_DIR (macOS, or a Linux session without one) the runtime dir is the private
 * one under $TMPDIR, which lasts until reboot or the system's tmp cleaning.
 *
 * Which VMs: those flagged and `stopped` or `crashed` (a QEMU that died with the last session).
 * A VM already running or paused — adopted from the previous driver — is left as it is; a
 * `broken` one (its file unreadable) is skipped and said in the log.
 *
 * A VM that fails to start is said in the driver's log and the VM's own log (and keeps the state
 * and reason its start left); it never stops the driver or the other VMs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOCAL_HOST_ID } from '../common/connection-types.js';
import type { VmSummary } from '../common/vm-types.js';
import type { VmManager } from './vm-manager.js';

/** The marker's name in the runtime dir (`AppPaths.runtime`). */
export const AUTOSTART_MARKER = 'autostart.done';

/** What autostart needs of the driver (VmManager gives it; tests give a typed fake). */
export interface AutostartDriver {
  /** This computer's VMs (not libvirt hosts': those have their own autostart). */
  list(): VmSummary[];
  /** MUST reject when the VM does not start, with a sentence saying why. */
  start(id: string): Promise<unknown>;
  /** The driver's log. */
  log(line: string): void;
  /** The VM's own log (shown with its other logs). */
  vmLog(id: string, line: string): void;
}

export interface AutostartOutcome {
  /** false: the marker was there (this session already had its autostart). */
  ran: boolean;
  started: string[];
  failed: { id: string; name: string; message: string }[];
  /** Flagged but left as they are (running, paused, broken...), with why. */
  skipped: { id: string; name: string; why: string }[];
}

/**
 * Claims this login session's autostart: true exactly once per runtime dir (the marker is made
 * with O_EXCL, so two racing callers cannot both win). A runtime dir that cannot be written says
 * so in the log and counts as claimed: better no autostart than one at every driver start.
 */
export function claimAutostart(runtimeDir: string, log: (line: string) => void): boolean {
  const file = path.join(runtimeDir, AUTOSTART_MARKER);
  try {
    fs.writeFileSync(file, `${new Date().toISOString()} pid ${process.pid}\n`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    log(
      (err as NodeJS.ErrnoException).code === 'EEXIST'
        ? `autostart: done already in this login session (${file}); no VM is started again`
        : `autostart: could not write ${file} (${(err as Error).message}); no VM is started at login this time`,
    );
    return false;
  }
}

/** The flagged VMs this session's autostart starts, and those it leaves with why. */
export function autostartPlan(vms: readonly VmSummary[]): {
  start: VmSummary[];
  skipped: AutostartOutcome['skipped'];
} {
  const start: VmSummary[] = [];
  const skipped: AutostartOutcome['skipped'] = [];
  for (const vm of vms) {
    if (vm.host || !vm.definition?.autostart) continue;
    if (vm.state === 'stopped' || vm.state === 'crashed') start.push(vm);
    else
      skipped.push({
        id: vm.id,
        name: vm.name,
        why: vm.state === 'broken' ? `its definition cannot be used: ${vm.reason ?? 'broken'}` : `it is ${vm.state}`,
      });
  }
  return { start, skipped };
}

/**
 * Starts this session's flagged VMs (see the file comment), all at once; resolves when each has
 * started or failed. Never rejects.
 */
export async function runAutostart(runtimeDir: string, driver: AutostartDriver): Promise<AutostartOutcome> {
  const outcome: AutostartOutcome = { ran: false, started: [], failed: [], skipped: [] };
  const plan = autostartPlan(driver.list());
  // Nothing flagged: no marker (and no file for people who never use this). A VM flagged later in
  // this session then starts at the next driver start, as its label says; one flagged now is
  // covered by the marker from here on.
  if (plan.start.length === 0 && plan.skipped.length === 0) return outcome;
  if (!claimAutostart(runtimeDir, (line) => driver.log(line))) return outcome;
  outcome.ran = true;
  outcome.skipped = plan.skipped;
  for (const s of plan.skipped) driver.log(`autostart: "${s.name}" is left as it is: ${s.why}`);
  await Promise.all(
    plan.start.map(async (vm) => {
      driver.log(`autostart: starting "${vm.name}"`);
      try {
        await driver.start(vm.id);
        outcome.started.push(vm.id);
      } catch (err) {
        const message = (err as Error).message;
        outcome.failed.push({ id: vm.id, name: vm.name, message });
        driver.log(`autostart: "${vm.name}" did not start: ${message}`);
        try {
          driver.vmLog(vm.id, `could not start at login (Start with vmdesk): ${message}`);
        } catch {
          // the VM went away meanwhile: the driver's log has it
        }
      }
    }),
  );
  return outcome;
}

/** The driver's side of autostart, from its VmManager: this computer's VMs only. */
export function managerAutostartDriver(
  manager: Pick<VmManager, 'list' | 'start' | 'resolve' | 'driverLog'>,
): AutostartDriver {
  return {
    list: () => manager.list(LOCAL_HOST_ID),
    start: (id) => manager.start({ vm: id }),
    log: (line) => manager.driverLog.write(line),
    vmLog: (id, line) => manager.resolve(id).log.write(line),
  };
}
