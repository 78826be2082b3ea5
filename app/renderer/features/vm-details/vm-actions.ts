/** Which toolbar actions apply in which state (mirrors the driver's checks in VmManager). */
import { VM_COMMAND_STATES } from '../../../main/common/api.js';
import type { VmState } from '../../../main/common/vm-types.js';
import type { VmAction } from '../../store/store.js';

export type ToolbarAction = VmAction | 'delete';

/** The same table as the app menu's (a broken VM can be deleted, never started). */
const ALLOWED: Record<ToolbarAction, readonly VmState[]> = VM_COMMAND_STATES;

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
