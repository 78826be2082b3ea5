/**
 * The one table of a VM's state changes. Every change of a VmInstance's state goes through
 * `assertTransition`, so an illegal change (a `stopped` VM becoming `paused`, a `broken` one
 * `running`) is a bug that throws where it happens instead of a state the user cannot leave.
 *
 *   stopped ─▶ starting ─▶ running ⇄ paused
 *      ▲  ▲        │          │        │
 *      │  └────────┤          ▼        ▼
 *      │           └──────▶ stopping ◀─┘       any live state ─▶ stopped | crashed (QEMU ended)
 *      └────────────────────── ┘               stopped | crashed ⇄ broken (the file on disk)
 */
import { VmdeskError } from '../common/errors.js';
import type { VmState } from '../common/vm-types.js';

export const TRANSITIONS: Readonly<Record<VmState, readonly VmState[]>> = {
  stopped: ['starting', 'broken'],
  // A crashed VM whose QEMU still lives (it stopped answering) can be forced off.
  crashed: ['starting', 'stopping', 'stopped', 'broken'],
  // A start that fails rolls back to stopped (we ended QEMU) or crashed (QEMU ended itself);
  // a force off during a start is `stopping`.
  starting: ['running', 'stopping', 'stopped', 'crashed'],
  running: ['paused', 'stopping', 'stopped', 'crashed'],
  paused: ['running', 'stopping', 'stopped', 'crashed'],
  // A guest that reboots instead of powering off, or a QEMU whose `quit` was refused, keeps running.
  stopping: ['stopped', 'crashed', 'running'],
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
