import type { VmState, VmSummary } from '../../main/common/vm-types.js';

/** The colour family of each state (the word is always shown too: colour is never alone). */
const TONE: Record<VmState, string> = {
  running: 'ok',
  starting: 'busy',
  stopping: 'busy',
  paused: 'paused',
  stopped: 'idle',
  crashed: 'bad',
  broken: 'bad',
};

export function StateBadge({ state }: { state: VmState }) {
  return (
    <span className={`state state-${TONE[state]}`}>
      <span className="state-dot" aria-hidden="true" />
      <span>{state}</span>
    </span>
  );
}

/** The accelerator in use (live), or the one the definition insists on (muted). */
export function AccelBadge({ vm }: { vm: VmSummary }) {
  const live = vm.accel?.accel;
  const wanted = vm.definition?.accel;
  const accel = live ?? (wanted && wanted !== 'auto' ? wanted : undefined);
  if (!accel) return null;
  const tone = accel === 'tcg' ? 'warn' : 'accel';
  const title = live ? vm.accel?.reason : `Asks for ${accel.toUpperCase()} when it starts`;
  return (
    <span className={`badge badge-${tone}${live ? '' : ' badge-muted'}`} title={title}>
      {accel.toUpperCase()}
    </span>
  );
}
