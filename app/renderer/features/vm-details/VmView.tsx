import { useEffect, useState } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { AccelBadge, StateBadge } from '../../components/Badges.js';
import { Tabs, type TabDef } from '../../components/Tabs.js';
import { selectTab } from '../../store/actions.js';
import { useVmdesk, type TabId } from '../../store/store.js';
import { ScreenTab } from '../console/ScreenTab.js';
import { SerialTab } from '../console/SerialTab.js';
import { LogsTab } from '../logs/LogsTab.js';
import { SnapshotsTab } from '../snapshots/SnapshotsTab.js';
import { Overview } from './Overview.js';
import { SettingsTab } from './SettingsTab.js';
import { Toolbar } from './Toolbar.js';

const TABS: TabDef<TabId>[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'settings', label: 'Settings' },
  { id: 'snapshots', label: 'Snapshots' },
  { id: 'screen', label: 'Screen' },
  { id: 'serial', label: 'Serial console' },
  { id: 'logs', label: 'Logs' },
];

/** Re-renders every 30 s for "running for ..." texts. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function VmView({ vm }: { vm: VmSummary }) {
  const tab = useVmdesk((s) => s.tab);
  const now = useNow();
  const dropHere = useVmdesk((s) => s.dragOverVm === vm.id);
  return (
    // A dropped ISO lands in this VM's CD-ROM drive (DropTarget reads `data-drop-vm`).
    <div className={dropHere ? 'vm-view vm-view-drop' : 'vm-view'} data-drop-vm={vm.id}>
      <div className="vm-head">
        <div className="vm-title">
          <h1 title={vm.name}>{vm.name}</h1>
          <div className="vm-sub">
            <StateBadge state={vm.state} />
            <AccelBadge vm={vm} />
          </div>
        </div>
        <Toolbar vm={vm} />
      </div>
      <Tabs tabs={TABS} active={tab} onChange={selectTab} label={`${vm.name} views`}>
        {tab === 'overview' ? <Overview vm={vm} now={now} /> : null}
        {tab === 'settings' ? <SettingsTab key={vm.id} vm={vm} /> : null}
        {tab === 'snapshots' ? <SnapshotsTab key={vm.id} vm={vm} /> : null}
        {tab === 'screen' ? <ScreenTab key={vm.id} vm={vm} /> : null}
        {tab === 'serial' ? <SerialTab key={vm.id} vm={vm} /> : null}
        {tab === 'logs' ? <LogsTab key={vm.id} vm={vm} /> : null}
      </Tabs>
    </div>
  );
}
