import { useId, useMemo, useState, type KeyboardEvent, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { AccelBadge } from '../../components/Badges.js';
import { Button } from '../../components/Button.js';
import { openDialog, reconnectHost, selectVm } from '../../store/actions.js';
import { groupVms, useVmdesk, type VmGroup } from '../../store/store.js';
import { HOST_STATE_TONE, HOST_STATE_WORDS, hostProblem, isLocalHost, noVmsText } from '../hosts/host-model.js';
import { formatMiB } from '../vm-details/format.js';
import { filterVms, loadSort, saveSort, sortVms, type SortKey } from './list-view.js';
import { thumbTakenAt, useThumbVersion } from './thumbnails.js';
import { ListControls, VmThumb } from './VmCardParts.js';
import './vm-list.css';

const optionId = (id: string) => `vm-option-${id}`;

/** Moves focus to the selected VM's active tab (Enter in the list). */
function focusDetails(): void {
  document.querySelector<HTMLElement>('main [role="tab"][aria-selected="true"]')?.focus();
}

/** Selects `vm` and puts the focus on the list that holds it (each host has its own). */
function selectAndFocus(vm: VmSummary): void {
  selectVm(vm.id);
  const option = document.getElementById(optionId(vm.id));
  option?.scrollIntoView({ block: 'nearest' });
  option?.closest<HTMLElement>('[role="listbox"]')?.focus();
}

/**
 * The VMs by host: this computer first, then each libvirt connection with its state (a failed or
 * disconnected one with its error and Reconnect). With only this computer there are no headings:
 * the list looks as it always did. Arrow keys move through all VMs, across hosts.
 */
export function VmList() {
  const { vms, hosts } = useVmdesk(useShallow((s) => ({ vms: s.vms, hosts: s.hosts })));
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState<SortKey>(() => loadSort());
  // "Last used" follows the pictures' times; the other orders need not re-sort when one arrives.
  const thumbVersion = useThumbVersion();
  const sortInput = sort === 'lastUsed' ? thumbVersion : 0;
  const allGroups = useMemo(() => groupVms(vms, hosts), [vms, hosts]);
  const groups = useMemo(
    () => allGroups.map((g) => ({ ...g, vms: sortVms(filterVms(g.vms, query), sort, thumbTakenAt) })),
    // sortInput stands for the thumbnails' times (thumbTakenAt reads them).
    [allGroups, query, sort, sortInput],
  );
  const total = allGroups.reduce((n, g) => n + g.vms.length, 0);
  const shown = groups.reduce((n, g) => n + g.vms.length, 0);
  const controls =
    total > 0 ? (
      <ListControls
        query={query}
        onQuery={setQuery}
        sort={sort}
        onSort={(k) => {
          setSort(k);
          saveSort(k);
        }}
      />
    ) : null;
  const noMatch =
    total > 0 && shown === 0 ? (
      <p className="sidebar-note" role="status">
        No VM matches “{query.trim()}”.
      </p>
    ) : null;
  const selectedId = useVmdesk((s) => s.selectedId);
  const loaded = useVmdesk((s) => s.listLoaded);
  const order = groups.flatMap((g) => g.vms);

  const onKey = (e: KeyboardEvent) => {
    const i = order.findIndex((v) => v.id === selectedId);
    const to =
      e.key === 'ArrowDown'
        ? Math.min(i + 1, order.length - 1)
        : e.key === 'ArrowUp'
          ? Math.max(i - 1, 0)
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? order.length - 1
              : -2;
    if (e.key === 'Enter' && selectedId) {
      e.preventDefault();
      focusDetails();
      return;
    }
    if (to === -2) return;
    e.preventDefault();
    const next = order[to];
    if (next) selectAndFocus(next);
  };

  if (!loaded) return <p className="sidebar-note">Loading…</p>;
  const single = groups.length === 1;
  // One list is in the Tab order: the one with the selected VM, or else the first with VMs.
  const tabGroup = groups.find((g) => g.vms.some((v) => v.id === selectedId)) ?? groups.find((g) => g.vms.length > 0);
  const list = (g: VmGroup, label: string) => (
    <VmListbox group={g} label={label} selectedId={selectedId} focusable={g === tabGroup} onKey={onKey} />
  );

  if (single) {
    const g = groups[0]!;
    return total === 0 ? (
      <>
        <p className="sidebar-note">No virtual machines yet.</p>
        <AddConnection />
      </>
    ) : (
      <>
        {controls}
        {noMatch ?? list(g, 'Virtual machines')}
        <AddConnection />
      </>
    );
  }
  return (
    <>
      {controls}
      {noMatch}
      {groups.map((g) => (
        <HostGroup key={g.id} group={g}>
          {g.vms.length > 0 ? list(g, `VMs on ${g.label}`) : null}
        </HostGroup>
      ))}
      <AddConnection />
    </>
  );
}

function AddConnection() {
  return (
    <div className="sidebar-foot">
      <Button small variant="ghost" onClick={() => openDialog('connections')}>
        Add a libvirt connection…
      </Button>
    </div>
  );
}

/** A host's heading in the list: its name and state; when it is not connected, why, and Reconnect. */
function HostGroup({ group, children }: { group: VmGroup; children: ReactNode }) {
  const headingId = useId();
  const h = group.host;
  const callError = useVmdesk((s) => s.hostErrors[group.id]);
  const busy = useVmdesk((s) => s.hostBusy[group.id]);
  const online = useVmdesk((s) => s.connection === 'open');
  const local = isLocalHost(group);
  const problem = h && !local ? hostProblem(h, callError) : undefined;
  return (
    <section className="vm-group" aria-labelledby={headingId} data-host={group.id}>
      <div className="vm-group-head">
        <h2 className="vm-group-title" id={headingId} title={h && !local ? h.uri : undefined}>
          {group.label}
        </h2>
        {h && !local ? (
          <span className={`state state-${HOST_STATE_TONE[h.state]}`} data-testid="host-state">
            <span className="state-dot" aria-hidden="true" />
            <span>{busy === 'connect' ? HOST_STATE_WORDS.connecting : HOST_STATE_WORDS[h.state]}</span>
          </span>
        ) : null}
      </div>
      {problem ? (
        <div className={`vm-group-problem${h?.state === 'error' ? ' vm-group-problem-bad' : ''}`}>
          <p className="vm-group-error">{problem.text}</p>
          {problem.fix ? <p className="vm-group-fix">{problem.fix}</p> : null}
          <Button
            small
            disabled={!online || busy !== undefined}
            aria-busy={busy === 'connect' || undefined}
            aria-label={`Reconnect ${group.label}`}
            onClick={() => void reconnectHost(group.id)}
          >
            {busy === 'connect' ? 'Connecting…' : 'Reconnect'}
          </Button>
        </div>
      ) : group.vms.length === 0 && h?.state !== 'connecting' ? (
        <p className="vm-group-empty">{noVmsText(group)}</p>
      ) : null}
      {children}
    </section>
  );
}

function VmListbox({
  group,
  label,
  selectedId,
  focusable,
  onKey,
}: {
  group: VmGroup;
  label: string;
  selectedId: string | null;
  focusable: boolean;
  onKey(e: KeyboardEvent): void;
}) {
  const dropOn = useVmdesk((s) => s.dragOverVm);
  const holdsSelected = group.vms.some((v) => v.id === selectedId);
  return (
    <ul
      role="listbox"
      aria-label={label}
      className="vm-list"
      tabIndex={focusable ? 0 : -1}
      aria-activedescendant={holdsSelected && selectedId ? optionId(selectedId) : undefined}
      onKeyDown={onKey}
    >
      {group.vms.map((vm) => (
        <li
          key={vm.id}
          id={optionId(vm.id)}
          role="option"
          aria-selected={vm.id === selectedId}
          className={vm.id === dropOn ? 'vm-item vm-card vm-item-drop' : 'vm-item vm-card'}
          // A dropped ISO lands in this VM's CD-ROM drive (DropTarget reads it); libvirt's VMs
          // change their drives with virsh, not here.
          data-drop-vm={vm.host ? undefined : vm.id}
          onClick={(e) => {
            selectVm(vm.id);
            e.currentTarget.closest<HTMLElement>('[role="listbox"]')?.focus();
          }}
          onDoubleClick={focusDetails}
        >
          <VmThumb vm={vm} />
          <div className="vm-card-body">
            <div className="vm-item-top">
              <span className="vm-name">{vm.name}</span>
              <AccelBadge vm={vm} />
            </div>
            <div className={`vm-item-sub state state-tone-${vm.state}`}>
              <span className="state-dot" aria-hidden="true" />
              <span data-testid="vm-state">{vm.state}</span>
              {vm.definition ? <span className="muted"> · {formatMiB(vm.definition.memoryMiB)}</span> : null}
            </div>
            {(vm.state === 'crashed' || vm.state === 'broken') && vm.reason ? (
              <div className="vm-reason" title={vm.reason}>
                {vm.reason}
              </div>
            ) : null}
          </div>
        </li>
      ))}
    </ul>
  );
}
