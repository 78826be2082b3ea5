/**
 * The CLI's lists as tables (`vmdesk list`, `vmdesk connections`): apart from format.ts, whose
 * VM details need the contract's value helpers (and so valibot), so printing a list loads only
 * this and the table.
 */
import type { HostConnection } from '../common/connection-types.js';
import type { VmSummary } from '../common/vm-types.js';
import { formatMiB } from '../common/sizes.js';
import { table } from '../common/text-table.js';

export function formatList(vms: VmSummary[]): string {
  if (vms.length === 0)
    return 'No VMs yet. Create one with: vmdesk define --name NAME --cdrom INSTALLER.iso --disk-size 20G';
  // VMs of libvirt hosts (a driver that keeps connections, or `vmdesk --connect`) say where they are.
  const hosts = vms.some((v) => v.host);
  const rows = [[...(hosts ? ['HOST'] : []), 'NAME', 'STATE', 'CPUS', 'MEMORY', 'ACCEL', 'ID']];
  for (const vm of vms) {
    const d = vm.definition;
    rows.push([
      ...(hosts ? [vm.host?.label ?? 'this computer'] : []),
      vm.name,
      vm.state,
      d ? String(d.cpus) : '-',
      d ? formatMiB(d.memoryMiB) : '-',
      vm.accel?.accel ?? d?.accel ?? '-',
      vm.id,
    ]);
  }
  const broken = vms.filter((v) => v.state === 'broken' || v.state === 'crashed');
  const notes = broken.map((v) => `\n${v.name}: ${v.reason ?? v.state}`).join('');
  return table(rows) + notes;
}

/** `vmdesk connections`: each host, its state, and what to do about an error. */
export function formatConnections(conns: HostConnection[]): string {
  const rows = [['HOST', 'STATE', 'URI', 'ID', 'AT START']];
  for (const c of conns)
    rows.push([
      c.label,
      c.state,
      c.kind === 'local' ? '-' : c.uri,
      c.id,
      c.kind === 'local' ? '-' : c.remembered ? 'connects' : 'no',
    ]);
  const notes = conns.filter((c) => c.error).map((c) => `\n${c.label}: ${c.error}${c.fix ? ` ${c.fix}` : ''}`);
  return table(rows) + notes.join('');
}
