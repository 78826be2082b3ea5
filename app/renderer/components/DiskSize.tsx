import type { VmSummary } from '../../main/common/vm-types.js';
import { formatBytes } from '../features/vm-details/format.js';

/** A disk's size as the guest sees it, for a table cell; "?" when its image cannot be read. */
export function DiskSize({ vm, target }: { vm: Pick<VmSummary, 'diskSizes'>; target: string }) {
  const bytes = vm.diskSizes?.[target];
  return bytes !== undefined ? (
    <>{formatBytes(bytes)}</>
  ) : (
    <span className="muted" title="The image cannot be read">
      ?
    </span>
  );
}
