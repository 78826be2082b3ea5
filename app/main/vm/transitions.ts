/**
 * The one table of a VM's state changes. Every change of a VmInstance's state goes through
 * `assertTransition`, so an illegal change (a `stopped` VM becoming `paused`, a `broken` one
 * `running`) is a bug that throws where it happens instead of a state the user cannot leave.
 *
 *   stopped ─▶ starting ─▶ running ⇄ paused          starting, running, paused ─▶ stopped | crashed
 *      ▲          │           │        │           (QEMU ended by itself, or a start rolled back)
 *      │          ▼           ▼        ▼           stopped | crashed ─▶ broken ─▶ stopped (the file)
 *      └──────── stopped ◀── stopping ◀┘           crashed (QEMU alive, unreachable) ─▶ stopping
 */
import { VmdeskError } from '../common/errors.js';
import type { VmState } from '../common/vm-types.js';

export const TRANSITIONS: Readonly<Record<VmState, readonly VmState[]>> = {
  stopped: ['starting', 'broken'],
  // A crashed VM whose QEMU still lives (it stopped answering) can be forced off.
  // ... and one that ends by itself meanwhile is seen (an adopted QEMU without QMP is watched).
  crashed: ['starting', 'stopping', 'stopped', 'broken'],
  // A start that fails rolls back to stopped (we ended QEMU, or none ran) or crashed (QEMU
  // ended by itself); a force off during a start cancels it, so it too ends in stopped.
  starting: ['running', 'stopped', 'crashed'],
  // QEMU ending by itself: stopped when it exited cleanly, crashed otherwise.
  running: ['paused', 'stopping', 'stopped', 'crashed'],
  paused: ['running', 'stopping', 'stopped', 'crashed'],
  // Every end we asked for is stopped; a power button QEMU refused leaves the VM running.
  stopping: ['stopped', 'running'],
  broken: ['stopped'],
};

/** The states in which a QEMU process may exist for the VM. */
export const LIVE_STATES: readonly VmState[] = ['starting', 'running', 'paused', 'stopping'];

export function canTransition(from: VmState, to: VmState): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

/** MUST be called before every state change; throws `internal` on an illegal one. */
export function assertTransition(from: VmState, to: VmState, vm: string): void {
  if (!canTransition(from, to)) {
    throw new VmdeskError('internal', `Illegal state change of "${vm}" from ${from} to ${to}.`, { from, to });
  }
}
