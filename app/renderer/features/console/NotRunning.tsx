import type { VmSummary } from '../../../main/common/vm-types.js';
import { EmptyPanel } from '../../components/Notice.js';

/** What a console tab shows while the VM has no console to offer. (No Start button here: the
 * toolbar has the one "Start".) */
export function NotRunning({ vm, what }: { vm: VmSummary; what: string }) {
  if (vm.state === 'starting')
    return (
      <EmptyPanel title="The VM is starting…">{`${what[0]?.toUpperCase()}${what.slice(1)} appears as soon as it runs.`}</EmptyPanel>
    );
  if (vm.state === 'stopping') return <EmptyPanel title="The VM is stopping…" />;
  return <EmptyPanel title="The VM is not running">{`Start it to see ${what}.`}</EmptyPanel>;
}
