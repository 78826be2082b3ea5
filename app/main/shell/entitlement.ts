/**
 * macOS: HVF needs the QEMU binary itself to carry com.apple.security.hypervisor. vmdesk's own
 * entitlement does not help: QEMU is a separate program, signed (or not) by whoever built it.
 */
import type { HostReport } from '../common/host-types.js';

/** A sentence for the host view when a found QEMU lacks the entitlement; null when nothing to say. */
export function explainQemuEntitlement(report: Pick<HostReport, 'platform' | 'qemu'>): string | null {
  if (report.platform !== 'darwin') return null;
  const unsigned = Object.values(report.qemu).flatMap((q) =>
    q.status === 'ok' && q.hvfEntitled === false ? [q.caps.binary] : [],
  );
  if (unsigned.length === 0) return null;
  const which = unsigned.join(' and ');
  return (
    `${which} ${unsigned.length === 1 ? 'is' : 'are'} not signed with the com.apple.security.hypervisor entitlement, so macOS refuses ${unsigned.length === 1 ? 'it' : 'them'} ` +
    'the Hypervisor framework and VMs fall back to slow emulation (TCG). vmdesk cannot lend QEMU its own entitlement: ' +
    "use Homebrew's qemu (signed), or sign this binary yourself: codesign -s - --entitlements entitlements.plist --force " +
    unsigned[0] +
    ' ' +
    '(with an entitlements.plist that sets com.apple.security.hypervisor to true).'
  );
}
