import type { ReactNode } from 'react';
import type { VmHost } from '../../../main/common/connection-types.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { CopyCode, Notice } from '../../components/Notice.js';
import { Rows } from '../../components/Rows.js';
import { libvirtManagedLine, networkText, virshEditCommand } from '../hosts/host-model.js';
import { bootOrderText } from './device-model.js';
import { formatMiB } from './format.js';
import { devicesText, firmwareText } from './guest-info.js';

/** Where a libvirt VM lives and how to change it: libvirt owns its definition, vmdesk does not edit it. */
export function LibvirtNote({ host }: { host: VmHost }) {
  return (
    <Notice title="Managed by libvirt">
      <div className="libvirt-note">
        <p>{libvirtManagedLine(host)}</p>
        <CopyCode text={virshEditCommand(host)} />
      </div>
    </Notice>
  );
}

/**
 * The Settings tab of a libvirt VM: what libvirt says of it, read-only. Start, stop, snapshots
 * and the consoles work as for any VM; changes to the machine itself are libvirt's (virsh edit).
 */
export function LibvirtSettings({ vm, host }: { vm: VmSummary; host: VmHost }) {
  const d = vm.definition;
  const rows: [string, ReactNode][] = [
    ['Host', host.label],
    ['Connection', <code key="u">{host.uri}</code>],
    ['Domain', <code key="d">{host.domain}</code>],
  ];
  if (d)
    rows.push(
      ['Architecture', d.arch],
      ['Memory', formatMiB(d.memoryMiB)],
      ['CPUs', String(d.cpus)],
      ['Firmware', firmwareText(d)],
      ['Display', d.display === 'none' ? 'None (serial console only)' : d.display],
      ['Boot order', bootOrderText(d.boot)],
      ['Network', networkText(vm)],
      ['Devices', devicesText(d)],
      [
        'Disks',
        d.disks.length === 0 ? (
          <span className="muted">None</span>
        ) : (
          <ul className="plain-list">
            {d.disks.map((k) => (
              <li key={k.target}>
                <strong>{k.target}</strong> <code className="path">{k.path}</code>{' '}
                <span className="muted">({k.format})</span>
              </li>
            ))}
          </ul>
        ),
      ],
      [
        'CD-ROM',
        d.cdroms.length === 0 ? (
          <span className="muted">No drive</span>
        ) : (
          <ul className="plain-list">
            {d.cdroms.map((iso, i) => (
              <li key={i}>{iso ? <code className="path">{iso}</code> : <span className="muted">Empty</span>}</li>
            ))}
          </ul>
        ),
      ],
    );
  return (
    <div className="settings" aria-label={`Settings of ${vm.name} (read-only)`} role="region">
      <LibvirtNote host={host} />
      <section className="card card-wide" aria-label="As libvirt defines it">
        <h3 className="card-title">As libvirt defines it</h3>
        <Rows rows={rows} />
      </section>
    </div>
  );
}
