import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { IconPlay } from '../../components/icons.js';
import { EmptyPanel } from '../../components/Notice.js';
import { runVmAction } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { isActionEnabled } from '../vm-details/vm-actions.js';

/** What a console tab shows while the VM has no console to offer. */
export function NotRunning({ vm, what }: { vm: VmSummary; what: string }) {
  const busy = useVmdesk((s) => s.busy[vm.id] !== undefined);
  if (vm.state === 'starting') return <EmptyPanel title="The VM is starting…">{`${what[0]?.toUpperCase()}${what.slice(1)} appears as soon as it runs.`}</EmptyPanel>;
  if (vm.state === 'stopping') return <EmptyPanel title="The VM is stopping…" />;
  return (
    <EmptyPanel title="The VM is not running">
      <p>Start it to see {what}.</p>
      {isActionEnabled('start', vm.state) ? (
        <Button variant="primary" icon={<IconPlay />} disabled={busy} onClick={() => void runVmAction(vm.id, 'start')} aria-label={`Start ${vm.name}`}>Start</Button>
      ) : null}
    </EmptyPanel>
  );
}
