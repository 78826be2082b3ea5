import { useRef, type ReactNode } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { osOf, SORT_LABELS, type SortKey } from './list-view.js';
import { useVmThumbnail } from './thumbnails.js';

/** The OS as a small coloured monogram (the name is in its tooltip and read out once). */
export function OsIcon({ vm, large = false }: { vm: VmSummary; large?: boolean }) {
  const os = osOf(vm);
  if (!os)
    return (
      <span
        className={`os-icon os-icon-unknown${large ? ' os-icon-large' : ''}`}
        title="OS not recognised"
        aria-hidden="true"
      >
        <svg viewBox="0 0 16 16" width="100%" height="100%">
          <rect x="2" y="3" width="12" height="8" rx="1" fill="none" stroke="currentColor" strokeWidth="1.3" />
          <path d="M6 13.5h4" stroke="currentColor" strokeWidth="1.3" strokeLinecap="round" />
        </svg>
      </span>
    );
  return (
    <span
      className={`os-icon${large ? ' os-icon-large' : ''}`}
      style={{ background: os.colour }}
      title={os.name}
      role="img"
      aria-label={os.name}
      data-os={os.key}
    >
      {os.key === 'windows' ? (
        <svg viewBox="0 0 16 16" width="62%" height="62%" aria-hidden="true">
          <path d="M1 1h6.5v6.5H1zM8.5 1H15v6.5H8.5zM1 8.5h6.5V15H1zM8.5 8.5H15V15H8.5z" fill="#fff" />
        </svg>
      ) : (
        os.mark
      )}
    </span>
  );
}

/**
 * The card's picture of the screen: live while the VM runs and the card is seen, the last one
 * when it is paused or off, the OS icon when there has never been one (or it has no display).
 */
export function VmThumb({ vm }: { vm: VmSummary }) {
  const ref = useRef<HTMLDivElement>(null);
  const headless = vm.definition?.display === 'none';
  const thumb = useVmThumbnail(vm.id, headless ? 'broken' : vm.state, ref);
  const dim = vm.state !== 'running';
  return (
    <div
      ref={ref}
      className={`vm-thumb${thumb ? ' vm-thumb-shown' : ''}${dim ? ' vm-thumb-dim' : ''}`}
      data-testid="vm-thumb"
    >
      {thumb ? (
        <>
          <img
            src={thumb.src}
            alt={`${vm.name}'s screen`}
            title={`Screen at ${new Date(thumb.takenAt).toLocaleTimeString()}`}
            data-taken-at={thumb.takenAt}
            draggable={false}
          />
          {osOf(vm) ? (
            <span className="vm-thumb-os">
              <OsIcon vm={vm} />
            </span>
          ) : null}
        </>
      ) : (
        <OsIcon vm={vm} large />
      )}
      {vm.state === 'paused' ? <PausedMark /> : null}
    </div>
  );
}

function PausedMark() {
  return (
    <span className="vm-thumb-paused" aria-hidden="true">
      <svg viewBox="0 0 16 16" width="14" height="14">
        <path d="M5 3.5v9M11 3.5v9" stroke="currentColor" strokeWidth="2.4" strokeLinecap="round" />
      </svg>
    </span>
  );
}

/** The search box and the sort above the list. */
export function ListControls({
  query,
  onQuery,
  sort,
  onSort,
  children,
}: {
  query: string;
  onQuery(q: string): void;
  sort: SortKey;
  onSort(k: SortKey): void;
  children?: ReactNode;
}) {
  return (
    <div className="vm-list-controls">
      <input
        type="search"
        className="vm-search"
        placeholder="Search VMs"
        aria-label="Search VMs by name, OS or state"
        value={query}
        onChange={(e) => onQuery(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && query) {
            e.preventDefault();
            e.stopPropagation();
            onQuery('');
          }
        }}
      />
      <select
        className="vm-sort"
        aria-label="Sort VMs by"
        title="Sort VMs by"
        value={sort}
        onChange={(e) => onSort(e.target.value as SortKey)}
      >
        {(Object.keys(SORT_LABELS) as SortKey[]).map((k) => (
          <option key={k} value={k}>
            {SORT_LABELS[k]}
          </option>
        ))}
      </select>
      {children}
    </div>
  );
}
