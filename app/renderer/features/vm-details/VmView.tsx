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
/** libvirt keeps a libvirt VM's logs on its host (/var/log/libvirt/qemu/): no Logs tab. */
const LIBVIRT_TABS = TABS.filter((t) => t.id !== 'logs');

/**
 * Re-renders for "running for ..." texts: every second while `since` is under a minute ago (the
 * seconds count), then every 30 s.
 */
function useNow(since: string | undefined): number {
  const [now, setNow] = useState(() => Date.now());
  const start = since ? Date.parse(since) : NaN;
  const fresh = Number.isFinite(start) && now - start < 60_000;
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), fresh ? 1000 : 30_000);
    return () => clearInterval(t);
  }, [fresh]);
  return now;
}

export function VmView({ vm }: { vm: VmSummary }) {
  const chosen = useVmdesk((s) => s.tab);
  const tabs = vm.host ? LIBVIRT_TABS : TABS;
  const tab = tabs.some((t) => t.id === chosen) ? chosen : 'overview';
  const now = useNow(vm.startedAt);
  const dropHere = useVmdesk((s) => s.dragOverVm === vm.id);
  return (
    // A dropped ISO lands in this VM's CD-ROM drive (DropTarget reads `data-drop-vm`).
    <div className={dropHere ? 'vm-view vm-view-drop' : 'vm-view'} data-drop-vm={vm.host ? undefined : vm.id}>
      <div className="vm-head">
        <div className="vm-title">
          <h1 title={vm.name}>{vm.name}</h1>
          <div className="vm-sub">
            <StateBadge state={vm.state} />
            <AccelBadge vm={vm} />
            {vm.host ? (
              <span className="vm-host-line" title={vm.host.uri}>
                on {vm.host.label} · libvirt domain {vm.host.domain}
              </span>
            ) : null}
          </div>
        </div>
        <Toolbar vm={vm} />
      </div>
      <Tabs tabs={tabs} active={tab} onChange={selectTab} label={`${vm.name} views`}>
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
