/** Human output of `vmdesk mdev ...`: aligned tables, descriptions kept, every verdict with its fix. */
import { table } from '../common/text-table.js';
import { describeParent } from './doctor.js';
import type { MdevCheck, MdevInventory, MdevNote } from '../common/mdev-types.js';

const indent = (text: string, pad: string) =>
  text
    .split('\n')
    .map((l) => pad + l)
    .join('\n');

function formatNotes(notes: readonly MdevNote[]): string {
  return notes
    .map((n) => `Note: ${n.text}${n.fix ? `\n${indent(`Fix: ${n.fix.command ?? n.fix.text}`, '  ')}` : ''}`)
    .join('\n\n');
}

export function formatInventory(inv: MdevInventory): string {
  const out: string[] = [];
  if (inv.parents.length > 0) {
    const rows = [['PARENT', 'DRIVER', 'DEVICE', 'TYPES', 'DEVICES']];
    for (const p of inv.parents) {
      const dev = p.pci
        ? `${p.pci.deviceName ?? p.pci.vendorName ?? 'PCI device'} (${p.pci.vendorId}:${p.pci.deviceId})`
        : 'kernel sample driver';
      rows.push([
        p.name,
        p.driver ?? '-',
        dev,
        String(p.types.length),
        String(p.types.reduce((n, t) => n + t.instances.length, 0)),
      ]);
    }
    out.push(table(rows));
  }
  if (inv.devices.length > 0) {
    const rows = [['UUID', 'TYPE', 'PARENT', 'IOMMU GROUP', 'USED BY']];
    for (const d of inv.devices)
      rows.push([
        d.uuid,
        d.type ?? '?',
        d.parent ?? '?',
        d.iommuGroup ?? '?',
        d.usedBy.map((v) => v.name).join(', ') || '-',
      ]);
    out.push(table(rows));
  } else if (inv.parents.some((p) => p.types.length > 0)) {
    out.push('No mediated devices exist yet. Create one with: vmdesk mdev create --parent PARENT --type TYPE');
  }
  if (inv.mdevctl.definitions.length > 0) {
    const rows = [['DEFINED (mdevctl)', 'TYPE', 'PARENT', 'START', 'ACTIVE']];
    for (const d of inv.mdevctl.definitions) rows.push([d.uuid, d.type, d.parent, d.start, d.active ? 'yes' : 'no']);
    out.push(table(rows));
  }
  const problems = inv.parents.flatMap((p) => [
    ...p.problems.map((x) => `${p.name}: ${x}`),
    ...p.types.flatMap((t) => t.problems.map((x) => `${p.name} ${t.id}: ${x}`)),
  ]);
  problems.push(...inv.devices.flatMap((d) => d.problems.map((x) => `${d.uuid}: ${x}`)));
  if (problems.length > 0) out.push(`Could not read everything:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  if (inv.notes.length > 0) out.push(formatNotes(inv.notes));
  return out.join('\n\n') + '\n';
}

export function formatTypes(inv: MdevInventory, parentName?: string): string {
  const parents = inv.parents.filter((p) => !parentName || p.name === parentName);
  const out: string[] = [];
  for (const p of parents) {
    if (p.types.length === 0) {
      out.push(`${describeParent(p)}: no types.`);
      continue;
    }
    const rows = [['TYPE', 'NAME', 'AVAILABLE', 'DISPLAY', 'DETAILS']];
    for (const t of p.types) {
      const avail = t.availableInstances === undefined ? '?' : String(t.availableInstances);
      rows.push([
        t.id,
        t.name ?? '?',
        t.canCreate ? avail : `${avail} (no create)`,
        t.display === 'none' ? 'no' : t.display,
        t.summary || '-',
      ]);
    }
    out.push(`${describeParent(p)}\n${table(rows)}`);
  }
  const relevant = inv.notes.filter((n) => !parentName || n.device === parentName);
  if (relevant.length > 0) out.push(formatNotes(relevant));
  if (out.length === 0)
    out.push(
      parentName ? `No mdev parent named ${parentName}. Run \`vmdesk mdev list\`.` : 'No mdev parents on this host.',
    );
  return out.join('\n\n') + '\n';
}

const LABEL = { pass: '[ ok ]', warn: '[warn]', fail: '[FAIL]' } as const;

export function formatChecks(vmName: string, checks: readonly MdevCheck[]): string {
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  const head =
    failed === 0
      ? `"${vmName}": ready for its mediated devices${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}.`
      : `"${vmName}": ${failed} problem${failed === 1 ? '' : 's'} to fix before it can start.`;
  const lines = [head, ''];
  for (const c of checks) {
    lines.push(`${LABEL[c.status]} ${c.title}`, indent(c.detail, '       '));
    if (c.fix && c.status !== 'pass') {
      lines.push(indent(`Fix: ${c.fix.text}`, '       '));
      if (c.fix.command) lines.push(`       Run: ${c.fix.command}`);
    }
  }
  return lines.join('\n') + '\n';
}
