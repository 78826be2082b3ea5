/** Text output of the CLI: short, aligned, and saying what to do next where that helps. */
import { bootOrderText, diskIsReadOnly, type DiskSpec, type VmDefinition, type VmSummary } from '../common/vm-types.js';
import { formatMiB } from '../common/sizes.js';
import { table } from '../common/text-table.js';

export { table };

export function formatInfo(vm: VmSummary): string {
  const d = vm.definition;
  const lines: [string, string][] = [
    ['Name', vm.name],
    ['Id', vm.id],
    ['State', vm.state + (vm.reason ? ` — ${vm.reason}` : '')],
  ];
  if (vm.host) lines.push(['Host', `${vm.host.label}: libvirt domain "${vm.host.domain}" on ${vm.host.uri}`]);
  if (vm.pid) lines.push(['PID', String(vm.pid)]);
  if (vm.sandbox)
    lines.push([
      'Sandbox',
      vm.sandbox.on ? 'on (seccomp)' : `OFF — ${vm.sandbox.reason ?? 'QEMU runs without -sandbox.'}`,
    ]);
  if (vm.guest) lines.push(...guestLines(vm.guest));
  if (vm.accel) lines.push(['Accelerator', `${vm.accel.accel} (${vm.accel.reason})`]);
  else if (d) lines.push(['Accelerator', `${d.accel} (chosen when the VM starts)`]);
  if (d) {
    lines.push(
      ['Arch', d.arch],
      ['CPUs', String(d.cpus)],
      ['Memory', formatMiB(d.memoryMiB)],
      ['Firmware', firmwareText(d)],
      ['TPM', d.tpm ? 'TPM 2.0 (swtpm)' : 'none'],
      ['Sound', d.sound ? 'on (Intel HD Audio, through the sound server of the host running vmdesk)' : 'off'],
      ['Clipboard', d.clipboard ? 'shared with the screen viewer (the guest needs spice-vdagent)' : 'not shared'],
      [
        'Autostart',
        d.autostart ? 'on (started when the app, `vmdesk web` or `vmdesk driver` starts, once per login)' : 'off',
      ],
      ...(d.usb ?? []).map((u, i): [string, string] => [
        i === 0 ? 'USB' : '',
        `${u.vendorId}:${u.productId} (at every start)`,
      ]),
      [
        'Devices',
        `${d.devices.disk} disks, ${d.devices.nic} network card, clock ${d.clock}${d.hyperv ? ', Hyper-V enlightenments (KVM)' : ''}`,
      ],
    );
    if (d.disks.length === 0) lines.push(['Disks', '(none)']);
    d.disks.forEach((k, i) => lines.push([i === 0 ? 'Disks' : '', diskLine(k)]));
    if (d.cdroms.length === 0) lines.push(['CD-ROM', '(no drive)']);
    d.cdroms.forEach((iso, i) =>
      lines.push([i === 0 ? 'CD-ROM' : '', `${d.cdroms.length > 1 ? `${i}: ` : ''}${iso ?? '(empty)'}`]),
    );
    lines.push(['Boot', bootOrderText(d.boot)]);
    const fwd = d.network.forwards
      .map((f) => `${f.proto} ${f.hostAddr}:${f.hostPort} → guest ${f.guestPort}`)
      .join(', ');
    lines.push(['Network', d.network.mode === 'user' ? `user-mode${fwd ? `; ${fwd}` : ''}` : 'none']);
    // While it runs: how each share is served and how the guest mounts it.
    const served = new Map((vm.shares ?? []).map((s) => [s.tag, s]));
    (d.shares ?? []).forEach((s, i) => {
      const run = served.get(s.tag);
      const how = run ? `; ${run.mode}${run.reason ? ` (${run.reason})` : ''}; in the guest: ${run.mount}` : '';
      lines.push([i === 0 ? 'Shared' : '', `${s.tag}: ${s.path}${s.readOnly ? ' (read-only)' : ''}${how}`]);
    });
    const snaps = vm.snapshots;
    lines.push([
      'Snapshots',
      snaps
        ? `${snaps.count}, keeping ${formatMiB(Math.ceil(snaps.vmStateBytes / 2 ** 20))} of memory (vmdesk snapshot list ${vm.name})`
        : 'none',
    ]);
    d.mdevs.forEach((m, i) =>
      lines.push([
        i === 0 ? 'vGPU' : '',
        `${m.uuid} (${m.type} on ${m.parent}${m.display ? ', shown in the console' : ''})`,
      ]),
    );
  }
  if (!vm.host) lines.push(['Definition', vm.file]);
  if (vm.paths) {
    lines.push(['QMP socket', vm.paths.qmp], ['Serial socket', vm.paths.serial], ['VNC socket', vm.paths.vnc]);
    lines.push(['QEMU log', vm.paths.qemuLog], ['Serial log', vm.paths.serialLog], ['Driver log', vm.paths.driverLog]);
  }
  if (vm.startedAt) lines.push(['Started', vm.startedAt]);
  const out = table(lines.map(([k, v]) => [k ? `${k}:` : '', v]));
  if (!vm.logTail) return out;
  const tail = vm.logTail.length
    ? vm.logTail.map((l) => `  ${l}`).join('\n')
    : '  (QEMU wrote nothing to its log before it ended)';
  return `${out}\n\nLast QEMU output (${vm.paths?.qemuLog ?? 'qemu.log'}):\n${tail}`;
}

/** What `vmdesk delete` did: every path it removed, and what it left where it was. */
export function formatDeleted(vm: string, r: { removed: string[]; kept: string[]; note?: string }): string {
  const list = (paths: string[]) => paths.map((p) => `  ${p}`).join('\n');
  let out = `Deleted "${vm}".`;
  out += r.removed.length ? `\nRemoved:\n${list(r.removed)}` : '\nNo files were left to remove.';
  if (r.kept.length)
    out += r.note
      ? `\nKept:\n${list(r.kept)}\n${r.note}`
      : `\nKept (vmdesk deletes only the disks it created for the VM, and none you asked to keep):\n${list(r.kept)}`;
  return out + '\n';
}

/** "vdb  /path/disk.qcow2 (qcow2, owned by this VM, read-only: base of 1 linked clone)". */
function diskLine(d: DiskSpec): string {
  const notes: string[] = [d.format];
  if (d.owned) notes.push('owned by this VM');
  const clones = d.linkedClones?.length ?? 0;
  if (clones > 0) notes.push(`read-only: base of ${clones} linked clone${clones === 1 ? '' : 's'}`);
  else if (diskIsReadOnly(d)) notes.push('read-only');
  if (d.backing) notes.push(`linked to ${d.backing}`);
  return `${d.target}  ${d.path} (${notes.join(', ')})`;
}

/** What the guest agent says, for `vmdesk info` of a running VM. */
function guestLines(g: NonNullable<VmSummary['guest']>): [string, string][] {
  if (!g.connected || !g.info)
    return [['Guest agent', 'not answering (install qemu-guest-agent in the guest to see its name and addresses)']];
  const out: [string, string][] = [];
  const { info } = g;
  if (info.hostname) out.push(['Guest name', info.hostname]);
  if (info.os) out.push(['Guest OS', info.os.prettyName ?? [info.os.name, info.os.version].filter(Boolean).join(' ')]);
  const addrs = info.addresses.map((a) => `${a.address}/${a.prefix} (${a.iface})`);
  out.push(['Guest IPs', addrs.length > 0 ? addrs.join(', ') : '(none)']);
  return out;
}

/** "BIOS", "UEFI", or "UEFI with Secure Boot". */
export function firmwareText(d: Pick<VmDefinition, 'firmware' | 'secureBoot'>): string {
  return d.firmware === 'bios' ? 'BIOS' : d.secureBoot ? 'UEFI with Secure Boot' : 'UEFI';
}

/** `vmdesk set`: what the VM is now, and for a running one what waits for its next start. */
export function formatUpdated(vm: VmSummary): string {
  const d = vm.definition;
  const out = `"${vm.name}" is set: ${d ? `${formatMiB(d.memoryMiB)}, ${d.cpus} CPU${d.cpus === 1 ? '' : 's'}, boots from ${bootOrderText(d.boot)}, firmware ${firmwareText(d)}${d.tpm ? ', TPM 2.0' : ''}, display ${d.display}, accel ${d.accel}${d.autostart ? ', starts with vmdesk' : ''}` : 'saved'}.\n`;
  return out + pendingLines(vm);
}

/** `vmdesk disk list`: the VM's disks by target. */
export function formatDisks(vm: VmSummary): string {
  const disks = vm.definition?.disks ?? [];
  if (disks.length === 0) return `"${vm.name}" has no disks. Add one: vmdesk disk add "${vm.name}" --size 20G\n`;
  return `Disks of "${vm.name}":\n${disks.map((d) => `  ${diskLine(d)}`).join('\n')}\n${pendingLines(vm)}`;
}

/** `vmdesk cdrom list`: the VM's CD-ROM drives, numbered as --drive takes them. */
export function formatDrives(vm: VmSummary): string {
  const drives = vm.definition?.cdroms ?? [];
  if (drives.length === 0)
    return `"${vm.name}" has no CD-ROM drive. Add one: vmdesk set "${vm.name}" --cdrom-drives 1\n`;
  return `CD-ROM drives of "${vm.name}":\n${drives.map((iso, i) => `  ${i}  ${iso ?? '(empty)'}`).join('\n')}\n${pendingLines(vm)}`;
}

function pendingLines(vm: VmSummary): string {
  return vm.pending?.length
    ? `It is ${vm.state}; these apply at its next start:\n${vm.pending.map((p) => `  ${p}`).join('\n')}\n`
    : '';
}

/** `vmdesk forward list|add|remove`: the VM's forwards, each with how to reach it. */
export function formatForwards(vm: VmSummary): string {
  const forwards = vm.definition?.network.forwards ?? [];
  if (forwards.length === 0)
    return `"${vm.name}" forwards no ports. Add one: vmdesk forward add ${vm.name} tcp:2222:22\n`;
  const rows = forwards.map((f) => {
    const host = f.hostAddr === '0.0.0.0' ? 'localhost' : (f.hostAddr ?? '127.0.0.1');
    const hint = f.proto === 'tcp' && f.guestPort === 22 ? `ssh -p ${f.hostPort} ${host}` : '';
    return [f.proto, `${f.hostAddr ?? '127.0.0.1'}:${f.hostPort}`, String(f.guestPort), hint];
  });
  const live = vm.state === 'running' || vm.state === 'paused' ? ` (${vm.state}: listening now)` : '';
  return `Port forwards of "${vm.name}"${live}:\n${table([['PROTO', 'HOST', 'GUEST', ''], ...rows])}\n`;
}
