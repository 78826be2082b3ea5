import type { ReactNode } from 'react';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { Button } from '../../components/Button.js';
import { CopyButton } from '../../components/CopyButton.js';
import { DiskSize } from '../../components/DiskSize.js';
import { Notice } from '../../components/Notice.js';
import { Rows } from '../../components/Rows.js';
import { openDialog, selectTab, unassignMdev } from '../../store/actions.js';
import { useVmdesk } from '../../store/store.js';
import { cpuMemoryText, diskSizeText, formatDateTime, formatDuration, formatMiB } from './format.js';
import { FileCell } from './DisksCard.js';
import { ForwardsCard } from './ForwardsCard.js';
import { bootOrderText, diskStatus } from './device-model.js';
import {
  addressesByInterface,
  devicesText,
  firmwareText,
  guestCard,
  guestIps,
  guestOsText,
  osSummary,
} from './guest-info.js';
import { forwardLabel, hostAddrOf, sshCommand } from './forward-form.js';
import { StateBadge } from '../../components/Badges.js';
import { networkText } from '../hosts/host-model.js';
import { LibvirtNote } from './LibvirtSettings.js';
import { runsNow } from './settings-form.js';

function Section({ title, children, wide }: { title: string; children: ReactNode; wide?: boolean }) {
  return (
    <section className={wide ? 'card card-wide' : 'card'} aria-label={title}>
      <h3 className="card-title">{title}</h3>
      {children}
    </section>
  );
}

const Path = ({ p }: { p: string }) => (
  <code className="path" title={p}>
    {p}
  </code>
);

function AccelSection({ vm }: { vm: VmSummary }) {
  const wanted = vm.definition?.accel ?? 'auto';
  if (vm.accel) {
    return (
      <Section title="Accelerator">
        <p className={`accel-now ${vm.accel.accel === 'tcg' ? 'accel-tcg' : ''}`}>
          <strong>{vm.accel.accel.toUpperCase()}</strong>
          {wanted === 'auto' ? ' (chosen automatically)' : ''}
        </p>
        <p className="muted">{vm.accel.reason}</p>
      </Section>
    );
  }
  return (
    <Section title="Accelerator">
      <p className="accel-now">
        <strong>{wanted === 'auto' ? 'Automatic' : wanted.toUpperCase()}</strong>
      </p>
      <p className="muted">
        {wanted === 'auto'
          ? 'KVM or HVF when this host can use them, otherwise TCG (emulation). The choice and its reason show here while the VM runs.'
          : `The VM asks for ${wanted.toUpperCase()}; the reason for what it got shows here while it runs.`}
      </p>
    </Section>
  );
}

/** The guest as its QEMU guest agent describes it, while the VM runs. */
function GuestSection({ vm }: { vm: VmSummary }) {
  const card = guestCard(vm);
  if (card.kind === 'hidden') return null;
  if (card.kind === 'no-agent')
    return (
      <Section title="Guest">
        <p className="muted" data-testid="guest-no-agent">
          No guest agent answered — install qemu-guest-agent in the guest (on Windows: from the virtio-win disc) to see
          its name and addresses.
        </p>
      </Section>
    );
  const { info } = card;
  const os = guestOsText(info.os);
  const addresses = addressesByInterface(info.addresses);
  return (
    <Section title="Guest">
      <Rows
        rows={[
          ['Hostname', info.hostname ?? <span className="muted">Not said</span>],
          ...(os ? ([['OS', os]] as [string, ReactNode][]) : []),
          ...(info.os?.kernel ? ([['Kernel', info.os.kernel]] as [string, ReactNode][]) : []),
          [
            'Addresses',
            addresses.length === 0 ? (
              <span className="muted">None yet</span>
            ) : (
              <ul className="guest-addresses" aria-label="Guest IP addresses">
                {addresses.map(([iface, list]) => (
                  <li key={iface}>
                    <span className="muted guest-iface">{iface}</span>
                    {list.map((a) => (
                      <code key={a} className="path guest-address">
                        {a}
                      </code>
                    ))}
                  </li>
                ))}
              </ul>
            ),
          ],
        ]}
      />
      <p className="muted small guest-at">From the guest agent, {formatDateTime(info.at)}.</p>
    </Section>
  );
}

/** The host folders the guest can mount, how each is served while it runs, and the command. */
function SharesSection({ vm }: { vm: VmSummary }) {
  const shares = vm.definition?.shares ?? [];
  if (shares.length === 0) return null;
  const served = new Map((vm.shares ?? []).map((s) => [s.tag, s]));
  const windows = vm.definition?.os?.id.includes('microsoft.com/win') ?? false;
  return (
    <Section title="Shared folders" wide>
      <ul className="shares" aria-label="Shared folders">
        {shares.map((s) => {
          const run = served.get(s.tag);
          return (
            <li key={s.tag}>
              <strong>{s.tag}</strong> <code className="path">{s.path}</code>
              {s.readOnly ? <span className="muted"> (read-only)</span> : null}
              {run ? (
                <div className="small">
                  <span>{run.mode === 'virtiofs' ? 'virtio-fs' : '9p'}</span>
                  {run.reason ? <span className="muted"> — {run.reason}</span> : null}
                  <div>
                    In the guest: <code data-testid="share-mount">{run.mount}</code>
                  </div>
                </div>
              ) : (
                <div className="muted small">
                  virtio-fs or 9p is chosen when the VM starts; the mount command shows then.
                </div>
              )}
            </li>
          );
        })}
      </ul>
      {windows ? (
        <p className="muted small">
          Windows reads virtio-fs shares with WinFsp and the virtio-fs driver from the virtio-win disc.
        </p>
      ) : null}
    </Section>
  );
}

/** "Graphics: vGPU": the VM's mediated devices, and the way to add, check and take them off. */
function VgpuSection({ vm }: { vm: VmSummary }) {
  const mdevs = vm.definition?.mdevs ?? [];
  const busy = useVmdesk((s) => s.busy[vm.id]);
  const online = useVmdesk((s) => s.connection === 'open');
  const off = vm.state === 'stopped' || vm.state === 'crashed';
  return (
    <Section title="Graphics: vGPU" wide>
      {mdevs.length === 0 ? (
        <p className="muted">
          No vGPU. A mediated device gives the VM a share of a host GPU (Intel GVT-g, NVIDIA vGPU) or a virtual one.
        </p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Type</th>
              <th scope="col">Parent</th>
              <th scope="col">Console</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {mdevs.map((m) => (
              <tr key={m.uuid}>
                <td>
                  <code>{m.uuid}</code>
                </td>
                <td>{m.type}</td>
                <td>
                  <code>{m.parent}</code>
                </td>
                <td>{m.display ? 'Shown' : 'No display'}</td>
                <td className="cell-actions">
                  <Button
                    small
                    disabled={!online || !off || busy !== undefined}
                    title={off ? 'Take it off this VM (the device itself stays on the host)' : 'Shut the VM down first'}
                    onClick={() => void unassignMdev(vm.id, m.uuid)}
                    aria-label={`Unassign ${m.uuid} from ${vm.name}`}
                  >
                    Unassign
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="card-actions">
        <Button
          disabled={!online || !off}
          title={off ? undefined : 'Shut the VM down to change its devices'}
          onClick={() => openDialog('vgpu')}
        >
          Add a vGPU…
        </Button>
        {mdevs.length > 0 ? (
          <Button disabled={!online} onClick={() => openDialog('vgpu-check')}>
            Check vGPU
          </Button>
        ) : null}
      </div>
    </Section>
  );
}

/** Disks and CD-ROM drives at a glance; Settings changes them. */
function StorageSection({ vm }: { vm: VmSummary }) {
  const d = vm.definition!;
  const live = runsNow(vm.state);
  const { of } = diskStatus(vm);
  return (
    <Section title="Storage" wide>
      {d.disks.length === 0 ? (
        <p className="muted">No disks.</p>
      ) : (
        <table className="table disks-table">
          <thead>
            <tr>
              <th scope="col">Disk</th>
              <th scope="col">File</th>
              <th scope="col">Size</th>
              <th scope="col">Format</th>
              <th scope="col">Kind</th>
            </tr>
          </thead>
          <tbody>
            {d.disks.map((disk) => (
              <tr key={disk.target}>
                <td>
                  <strong className="disk-target">{disk.target}</strong>
                </td>
                <td className="cell-file">
                  <FileCell path={disk.path} />
                </td>
                <td className="num">
                  <DiskSize vm={vm} target={disk.target} />
                </td>
                <td>
                  {disk.format}
                  {disk.readOnly || (disk.linkedClones?.length ?? 0) > 0 ? ', read-only' : ''}
                </td>
                <td>
                  {disk.owned ? 'Created by vmdesk' : 'Attached file'}
                  {live && of.get(disk.target) === 'next-start' ? (
                    <span className="applies-later"> · from next start</span>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Rows
        rows={
          d.cdroms.length === 0
            ? [
                [
                  'CD-ROM',
                  <span key="n" className="muted">
                    No drive
                  </span>,
                ],
              ]
            : d.cdroms.map((iso, i): [string, ReactNode] => [
                `CD-ROM ${i + 1}`,
                iso ? <Path key={i} p={iso} /> : <span className="muted">Empty</span>,
              ])
        }
      />
      {vm.host ? null : (
        <div className="card-actions">
          <Button small onClick={() => selectTab('settings')}>
            Change disks and drives…
          </Button>
        </div>
      )}
    </Section>
  );
}

/**
 * What a user looks for first: the state, the OS, CPUs and memory, how to reach the guest (its
 * addresses once its agent tells them, the forwards with what to paste) and the disks' sizes.
 */
function SummarySection({ vm, now }: { vm: VmSummary; now: number }) {
  const d = vm.definition;
  const live = vm.state === 'running' || vm.state === 'paused';
  const os = osSummary(vm);
  const ips = guestIps(vm);
  const card = guestCard(vm);
  const forwards = d && d.network.mode !== 'none' ? d.network.forwards : [];
  const rows: [string, ReactNode][] = [
    [
      'State',
      <span key="s" className="summary-state">
        <StateBadge state={vm.state} />
        {live && vm.startedAt ? (
          <span className="muted"> for {formatDuration(now - Date.parse(vm.startedAt))}</span>
        ) : null}
      </span>,
    ],
    ['OS', os ?? <span className="muted">Not recognised</span>],
  ];
  if (d) rows.push(['Hardware', cpuMemoryText(d.cpus, d.memoryMiB)]);
  if (live)
    rows.push([
      'IP addresses',
      ips.length > 0 ? (
        <ul className="copy-list" aria-label="Guest IP addresses" data-testid="summary-ips">
          {ips.map((ip) => (
            <li key={ip}>
              <code className="path">{ip}</code>
              <CopyButton text={ip} />
            </li>
          ))}
        </ul>
      ) : (
        <span className="muted">
          {card.kind === 'no-agent'
            ? 'Not known: no guest agent answered (install qemu-guest-agent in the guest).'
            : 'Not known yet.'}
        </span>
      ),
    ]);
  if (forwards.length > 0)
    rows.push([
      'Forwards',
      <ul key="f" className="copy-list" aria-label="Port forwards to copy">
        {forwards.map((f) => {
          const reach = sshCommand(f) ?? `${hostAddrOf(f) === '0.0.0.0' ? 'localhost' : hostAddrOf(f)}:${f.hostPort}`;
          return (
            <li key={forwardLabel(f)}>
              <code className="path">{reach}</code>
              <span className="muted small">
                {' '}
                → guest {f.proto.toUpperCase()} {f.guestPort}
              </span>
              <CopyButton text={reach} />
            </li>
          );
        })}
      </ul>,
    ]);
  if (d)
    rows.push([
      'Disks',
      d.disks.length === 0 ? (
        <span className="muted">None</span>
      ) : (
        <ul key="d" className="summary-disks" aria-label="Disk sizes">
          {d.disks.map((disk) => (
            <li key={disk.target}>
              <strong className="disk-target">{disk.target}</strong>{' '}
              {diskSizeText(vm.diskSizes?.[disk.target], vm.diskUsage?.[disk.target])}
              <span className="muted"> · {disk.format}</span>
            </li>
          ))}
        </ul>
      ),
    ]);
  return (
    <Section title="At a glance" wide>
      <Rows rows={rows} />
    </Section>
  );
}

/** The files behind the VM: its definition, logs and sockets; for looking into, so folded away. */
function FilesSection({ vm }: { vm: VmSummary }) {
  return (
    <details className="card card-wide files-card">
      <summary className="card-title files-summary">Files</summary>
      <Rows
        rows={[
          ['Definition', <Path key="f" p={vm.file} />],
          // Only where Preferences' VM folder put it: otherwise beside vmdesk's other VMs.
          ...(vm.definition?.dataDir
            ? ([['Data folder', <Path key="data" p={vm.definition.dataDir} />]] as [string, ReactNode][])
            : []),
          ...(vm.paths
            ? ([
                ['QEMU log', <Path key="q" p={vm.paths.qemuLog} />],
                ['Serial log', <Path key="s" p={vm.paths.serialLog} />],
                ['Driver log', <Path key="d" p={vm.paths.driverLog} />],
                ['QMP socket', <Path key="m" p={vm.paths.qmp} />],
                ['Serial socket', <Path key="c" p={vm.paths.serial} />],
                ['VNC socket', <Path key="v" p={vm.paths.vnc} />],
              ] as [string, ReactNode][])
            : []),
        ]}
      />
    </details>
  );
}

export function Overview({ vm, now }: { vm: VmSummary; now: number }) {
  const d = vm.definition;
  return (
    <div className="overview">
      {vm.state === 'crashed' || vm.state === 'broken' ? (
        <Notice tone="error" title={vm.state === 'crashed' ? 'This VM crashed' : 'This VM cannot be read'}>
          <p>{vm.reason ?? 'No reason was recorded.'}</p>
          {vm.logTail && vm.logTail.length > 0 ? (
            <>
              <p className="notice-sub">Last lines of qemu.log</p>
              <pre className="log-tail">{vm.logTail.join('\n')}</pre>
            </>
          ) : null}
          {vm.state === 'broken' ? (
            <p>
              vmdesk leaves the file as it is: <Path p={vm.file} />. Repair it, or <strong>Delete</strong> the VM to
              remove the file and the VM’s own folders.
            </p>
          ) : null}
        </Notice>
      ) : vm.reason ? (
        <Notice tone="warn" title="Last problem">
          {vm.reason}
        </Notice>
      ) : null}
      {vm.host ? <LibvirtNote host={vm.host} /> : null}
      {runsNow(vm.state) && (vm.pending?.length ?? 0) > 0 ? (
        <Notice tone="warn" title="Pending changes — they apply at the next start">
          <ul className="pending-list" aria-label="Pending changes">
            {vm.pending!.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
          <div className="card-actions">
            <Button small onClick={() => selectTab('settings')}>
              Open Settings
            </Button>
          </div>
        </Notice>
      ) : null}
      {vm.sandbox && !vm.sandbox.on ? (
        <Notice tone="warn" title="QEMU runs without its sandbox">
          <p>{vm.sandbox.reason ?? 'This QEMU was started without -sandbox.'}</p>
          <p className="muted">
            The seccomp sandbox keeps a compromised QEMU from starting programs or gaining privileges on this host.
          </p>
        </Notice>
      ) : null}

      <div className="cards">
        <SummarySection vm={vm} now={now} />

        {d ? (
          <Section title="Configuration">
            <Rows
              rows={[
                ['Architecture', d.arch],
                ['Memory', formatMiB(d.memoryMiB)],
                ['CPUs', String(d.cpus)],
                ['Firmware', firmwareText(d)],
                ['TPM', d.tpm ? 'TPM 2.0 (swtpm)' : 'None'],
                ['Display', d.display === 'none' ? 'None (serial console only)' : d.display],
                ['Boot order', bootOrderText(d.boot)],
                ['Network', networkText(vm)],
                ['Devices', devicesText(d)],
                ['Clock', d.clock === 'localtime' ? 'Local time' : 'UTC'],
                ...(d.hyperv ? ([['Hyper-V', 'Enlightenments on']] as [string, ReactNode][]) : []),
                ...(d.os ? ([['Made for', d.os.name]] as [string, ReactNode][]) : []),
                ['Created', formatDateTime(d.createdAt)],
              ]}
            />
          </Section>
        ) : null}

        <GuestSection vm={vm} />

        <SharesSection vm={vm} />

        <AccelSection vm={vm} />

        {vm.state === 'running' || vm.state === 'paused' ? (
          <Section title="Process">
            <Rows
              rows={[
                ['PID', vm.pid !== undefined ? String(vm.pid) : '—'],
                [
                  'Started',
                  vm.startedAt
                    ? `${formatDateTime(vm.startedAt)} (${formatDuration(now - Date.parse(vm.startedAt))} ago)`
                    : '—',
                ],
                ['Sandbox', vm.sandbox ? (vm.sandbox.on ? 'On (seccomp)' : 'Off') : 'Unknown'],
              ]}
            />
          </Section>
        ) : null}

        {/* Forwards and vGPUs of a libvirt VM are libvirt's (virsh edit): not offered here. */}
        {vm.host ? null : <ForwardsCard vm={vm} />}

        {d ? <StorageSection vm={vm} /> : null}

        {d && !vm.host ? <VgpuSection vm={vm} /> : null}

        <FilesSection vm={vm} />
      </div>
    </div>
  );
}
