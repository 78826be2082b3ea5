import { useMemo } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { EmptyPanel } from '../../components/Notice.js';
import { consoleAvailable, getConsoleSession } from './sessions.js';
import { useAttachedSession } from './use-console-session.js';
import { NotRunning } from './NotRunning.js';

export function SerialTab({ vm }: { vm: VmSummary }) {
  const live = consoleAvailable(vm.state);
  // Keyed by id, not by the summary object: a vm.changed must not create a new session.
  const session = useMemo(() => (live ? getConsoleSession(vm, 'serial') : null), [vm.id, live]);
  const { ref, status } = useAttachedSession(session);
  if (!session) return <NotRunning vm={vm} what="its serial console" />;
  return (
    <div className="console">
      <div className="console-bar">
        <span className={`conn conn-${status.phase}`} aria-live="polite">
          {status.phase === 'connecting'
            ? 'Connecting…'
            : status.phase === 'connected'
              ? 'Connected · keystrokes go to the guest'
              : (status.message ?? 'Disconnected')}
        </span>
      </div>
      <div className="serial-frame" data-testid="serial-terminal" ref={ref} onClick={() => session.focus()} />
      {status.phase === 'ended' && status.message && !live ? <EmptyPanel title={status.message} /> : null}
    </div>
  );
}
