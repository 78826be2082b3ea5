/** Which toolbar actions apply in which state (mirrors the driver's checks in VmManager). */
import type { VmState } from '../../../main/common/vm-types.js';
import type { VmAction } from '../../store/store.js';

export type ToolbarAction = VmAction | 'delete';

const ALLOWED: Record<ToolbarAction, readonly VmState[]> = {
  start: ['stopped', 'crashed'],
  shutdown: ['running'],
  stop: ['running', 'paused', 'starting', 'stopping'],
  pause: ['running'],
  resume: ['paused'],
  reboot: ['running', 'paused'],
  // A broken VM (its file unreadable) can be deleted too: the driver removes the file and the
  // VM's own folders, never a disk outside them.
  delete: ['stopped', 'crashed', 'broken'],
};

export const TOOLBAR_ACTIONS: readonly ToolbarAction[] = [
  'start',
  'shutdown',
  'stop',
  'pause',
  'resume',
  'reboot',
  'delete',
];

export const ACTION_LABELS: Record<ToolbarAction, string> = {
  start: 'Start',
  shutdown: 'Shut down',
  stop: 'Force off',
  pause: 'Pause',
  resume: 'Resume',
  reboot: 'Reboot',
  delete: 'Delete',
};

export function isActionEnabled(action: ToolbarAction, state: VmState): boolean {
  return ALLOWED[action].includes(state);
}

export function enabledActions(state: VmState): ToolbarAction[] {
  return TOOLBAR_ACTIONS.filter((a) => isActionEnabled(a, state));
}
