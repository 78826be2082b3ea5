import { useRef, type KeyboardEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { AccelBadge } from '../../components/Badges.js';
import { selectVm } from '../../store/actions.js';
import { sortedVms, useVmdesk } from '../../store/store.js';
import { formatMiB } from '../vm-details/format.js';

const optionId = (id: string) => `vm-option-${id}`;

/** Moves focus to the selected VM's active tab (Enter in the list). */
function focusDetails(): void {
  document.querySelector<HTMLElement>('main [role="tab"][aria-selected="true"]')?.focus();
}

export function VmList() {
  const vms = useVmdesk(useShallow((s) => sortedVms(s.vms)));
  const selectedId = useVmdesk((s) => s.selectedId);
  const loaded = useVmdesk((s) => s.listLoaded);
  const dropOn = useVmdesk((s) => s.dragOverVm);
  const listRef = useRef<HTMLUListElement>(null);

  const onKey = (e: KeyboardEvent) => {
    const i = vms.findIndex((v) => v.id === selectedId);
    const to =
      e.key === 'ArrowDown'
        ? Math.min(i + 1, vms.length - 1)
        : e.key === 'ArrowUp'
          ? Math.max(i - 1, 0)
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? vms.length - 1
              : -2;
    if (e.key === 'Enter' && selectedId) {
      e.preventDefault();
      focusDetails();
      return;
    }
    if (to === -2) return;
    e.preventDefault();
    const next = vms[to];
    if (next) {
      selectVm(next.id);
      document.getElementById(optionId(next.id))?.scrollIntoView({ block: 'nearest' });
    }
  };

  if (!loaded) return <p className="sidebar-note">Loading…</p>;
  if (vms.length === 0) return <p className="sidebar-note">No virtual machines yet.</p>;

  return (
    <ul
      ref={listRef}
      role="listbox"
      aria-label="Virtual machines"
      className="vm-list"
      tabIndex={0}
      aria-activedescendant={selectedId ? optionId(selectedId) : undefined}
      onKeyDown={onKey}
    >
      {vms.map((vm) => (
        <li
          key={vm.id}
          id={optionId(vm.id)}
          role="option"
          aria-selected={vm.id === selectedId}
          className={vm.id === dropOn ? 'vm-item vm-item-drop' : 'vm-item'}
          // A dropped ISO lands in this VM's CD-ROM drive (DropTarget reads it).
          data-drop-vm={vm.id}
          onClick={() => {
            selectVm(vm.id);
            listRef.current?.focus();
          }}
          onDoubleClick={focusDetails}
        >
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
        </li>
      ))}
    </ul>
  );
}
