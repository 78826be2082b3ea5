/**
 * Quitting while VMs run, as a decision plus driver calls (the wiring only shows the dialog and
 * calls app.quit()). VMs belong to the driver, not to the window: keeping them running is the
 * default, and the next launch re-attaches to them.
 */
import type { DriverLink } from '../ipc/driver-link.js';
import { serializeError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { LIVE_STATES } from './tray-menu.js';

export type QuitChoice = 'keep' | 'shutdown' | 'cancel';

/** Button order of the dialog; the index is what showMessageBox answers. */
const CHOICES: readonly { choice: QuitChoice; label: string }[] = [
  { choice: 'keep', label: 'Keep running in the background' },
  { choice: 'shutdown', label: 'Shut down and quit' },
  { choice: 'cancel', label: 'Cancel' },
];

/** How long each guest gets to shut down (ACPI) before the driver forces it off. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

export function liveVms(vms: readonly VmSummary[]): VmSummary[] {
  return vms.filter((v) => LIVE_STATES.includes(v.state));
}

/** Options for dialog.showMessageBox. */
export function quitDialog(live: readonly VmSummary[]): {
  type: 'question';
  title: string;
  message: string;
  detail: string;
  buttons: string[];
  defaultId: number;
  cancelId: number;
  noLink: true;
} {
  const names =
    live
      .slice(0, 5)
      .map((v) => v.name)
      .join(', ') + (live.length > 5 ? ` and ${live.length - 5} more` : '');
  return {
    type: 'question',
    title: 'Quit vmdesk',
    message:
      live.length === 1 ? `"${live[0]!.name}" is still running.` : `${live.length} VMs are still running: ${names}.`,
    detail:
      'Keep them running in the background: vmdesk picks them up again the next time it starts. ' +
      `Or shut them down: each guest is asked to power off and is forced off after ${SHUTDOWN_TIMEOUT_MS / 1000} seconds.`,
    buttons: CHOICES.map((c) => c.label),
    defaultId: 0,
    cancelId: CHOICES.findIndex((c) => c.choice === 'cancel'),
    noLink: true,
  };
}

export function choiceFromResponse(response: number): QuitChoice {
  return CHOICES[response]?.choice ?? 'cancel';
}

export interface ShutdownProgress {
  done: number;
  total: number;
}

export function progressText(p: ShutdownProgress): string {
  return `Shutting down VMs… ${p.done} of ${p.total} off`;
}

export interface ShutdownFailure {
  name: string;
  message: string;
}

/**
 * Stops every VM in `live`, in parallel: a running guest gets the ACPI power button and
 * `timeoutMs` (the driver forces it off after that), a paused one is resumed first (a paused guest
 * cannot react), one that is starting or already stopping is forced off. A VM whose shutdown
 * fails is forced off; what still fails is returned (that VM keeps running).
 */
export async function shutDownAll(
  link: Pick<DriverLink, 'call'>,
  live: readonly VmSummary[],
  timeoutMs: number,
  onProgress: (p: ShutdownProgress) => void,
): Promise<ShutdownFailure[]> {
  let done = 0;
  const total = live.length;
  onProgress({ done, total });
  const failures: ShutdownFailure[] = [];
  await Promise.all(
    live.map(async (vm) => {
      const forceOff = () => link.call('vm.stop', { vm: vm.id });
      try {
        if (vm.state === 'starting' || vm.state === 'stopping') {
          await forceOff();
        } else {
          try {
            if (vm.state === 'paused') await link.call('vm.resume', { vm: vm.id });
            await link.call('vm.shutdown', { vm: vm.id, wait: true, timeoutMs });
          } catch {
            await forceOff();
          }
        }
      } catch (err) {
        failures.push({ name: vm.name, message: serializeError(err).message });
      }
      onProgress({ done: ++done, total });
    }),
  );
  return failures;
}

export interface QuitFlowDeps {
  link: Pick<DriverLink, 'call' | 'close'>;
  /** Asks the user (only called when VMs run). */
  ask(live: VmSummary[]): Promise<QuitChoice>;
  onProgress(p: ShutdownProgress): void;
  timeoutMs?: number;
}

export type QuitOutcome = { quit: false } | { quit: true; failures: ShutdownFailure[] };

/**
 * The whole decision. MUST NOT stop any VM unless the user chose to shut down; on `keep` (or
 * when nothing runs) it only closes the link, which leaves every QEMU process alive.
 */
export async function runQuitFlow(deps: QuitFlowDeps): Promise<QuitOutcome> {
  let vms: VmSummary[] = [];
  try {
    vms = await deps.link.call('vm.list', {});
  } catch {
    /* the driver is unreachable: nothing we could stop anyway */
  }
  const live = liveVms(vms);
  const choice: QuitChoice = live.length > 0 ? await deps.ask(live) : 'keep';
  if (choice === 'cancel') return { quit: false };
  const failures =
    choice === 'shutdown'
      ? await shutDownAll(deps.link, live, deps.timeoutMs ?? SHUTDOWN_TIMEOUT_MS, deps.onProgress)
      : [];
  try {
    await deps.link.close();
  } catch {
    /* quitting anyway: the lock goes with the process */
  }
  return { quit: true, failures };
}
