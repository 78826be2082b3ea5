/** HostReport → aligned plain text for a terminal (`vmdesk host`). Pure; no colours, so it reads
 * the same when piped into a bug report. Every problem line is followed by its `fix:` line. */
import { ACCEL_ENV, chooseAccel } from './choose-accel.js';
import { formatBytes } from './memlock.js';
import { ARCHES } from './qemu-caps.js';
import type { AccelStatus, Arch, FirmwareImage, HostReport } from '../common/host-types.js';
import { pickFirmware } from './firmware.js';

const WIDTH = 100;
const LABEL = 12; // column where values start

/** Greedy word wrap (runs of spaces become one); continuation lines get `indent` spaces. Long
 * paths are never split. */
function wrap(text: string, indent: number, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l));
}

/** "  label     text" with the text wrapped under itself. */
function row(label: string, text: string, indent = 2): string {
  const head = `${' '.repeat(indent)}${label.padEnd(LABEL)}`;
  return head + wrap(text, head.length).join('\n');
}

function fixRow(fix: string | undefined): string[] {
  return fix ? [row('', `fix: ${fix}`)] : [];
}

function qemuSection(report: HostReport): string[] {
  const out = ['QEMU'];
  for (const arch of ARCHES) {
    const q = report.qemu[arch];
    if (q.status === 'ok') {
      const c = q.caps;
      out.push(row(arch, `QEMU ${c.version} at ${c.binary}${q.fromCache ? ' (cached probe)' : ''}`));
      out.push(
        row(
          '',
          `accelerators ${c.accels.join(', ') || 'none'} · sandbox ${c.sandbox ? 'yes' : 'no'} · ${c.machines.length} machine types`,
        ),
      );
      if (q.hvfEntitled === false) out.push(row('', 'not signed with the hypervisor entitlement (see HVF below)'));
    } else {
      out.push(row(arch, `${q.status.toUpperCase()}: ${q.reason}`));
      out.push(...fixRow(q.fix));
    }
  }
  const img = report.qemuImg;
  if (img.status === 'ok')
    out.push(row('qemu-img', `${img.version} at ${img.path}${img.fromCache ? ' (cached probe)' : ''}`));
  else out.push(row('qemu-img', `${img.status.toUpperCase()}: ${img.reason}`), ...fixRow(img.fix));
  return out;
}

function accelLine(s: AccelStatus): string[] {
  return [
    row(`${s.accel.toUpperCase()}  ${s.available ? 'yes' : 'no'}`, s.reason),
    ...(s.available ? [] : fixRow(s.fix)),
  ];
}

/** What a VM asking for `auto` gets, and what VMDESK_ACCEL (`override`) does to every VM. */
function autoChoice(statuses: AccelStatus[], override: string | undefined): string {
  const forced = override?.trim() ?? '';
  try {
    const accel = chooseAccel('auto', statuses, override).accel.toUpperCase();
    return forced === '' || forced.toLowerCase() === 'auto'
      ? `auto picks ${accel}`
      : `${ACCEL_ENV}=${forced}: every VM uses ${accel}, whatever it asks for`;
  } catch (err) {
    if (forced === '' || forced.toLowerCase() === 'auto') return 'no accelerator can run these guests';
    return `${ACCEL_ENV}=${forced}: no VM can start: ${(err as Error).message}`;
  }
}

function accelSection(report: HostReport, accelOverride: string | undefined): string[] {
  const out: string[] = [];
  for (const arch of ARCHES) {
    const statuses = report.accels[arch];
    out.push(`Accelerators for ${arch} guests (${autoChoice(statuses, accelOverride)})`);
    for (const s of statuses) out.push(...accelLine(s));
  }
  return out;
}

function firmwareFlags(img: FirmwareImage): string {
  const flags = [
    img.secureBoot ? 'secure boot' : 'no secure boot',
    ...(img.enrolledKeys ? ['keys enrolled'] : []),
    ...(img.requiresSmm ? ['needs SMM'] : []),
  ];
  return flags.join(', ');
}

function firmwareSection(report: HostReport): string[] {
  const fw = report.firmware;
  const out = ['Firmware (UEFI)'];
  for (const arch of ARCHES as readonly Arch[]) {
    const imgs = fw.images.filter((i) => i.arch === arch);
    // Which of them vmdesk's VMs boot with (argv.ts's machine types).
    const machine = arch === 'x86_64' ? 'q35' : 'virt';
    const plain = pickFirmware(fw, arch, machine);
    const secure = pickFirmware(fw, arch, machine, { secureBoot: true });
    for (const [n, img] of imgs.entries()) {
      const from = img.source === 'well-known path' ? 'well-known path' : img.source.split('/').pop();
      const use =
        img === plain ? ', used by UEFI VMs' : img === secure && img.enrolledKeys ? ', used by Secure Boot VMs' : '';
      out.push(row(n === 0 ? arch : '', `${img.code} [${firmwareFlags(img)}${use}] (${from})`));
    }
    const miss = fw.missing.find((m) => m.arch === arch);
    if (miss) out.push(row(arch, `MISSING: ${miss.reason}`), ...fixRow(miss.fix));
  }
  for (const p of fw.problems) out.push(row('skipped', p));
  return out;
}

function tpmSection(report: HostReport): string[] {
  const s = report.swtpm;
  if (s.path) return ['TPM 2.0 (swtpm)', row('swtpm', `${s.path} (VMs with a TPM run one each, as you)`)];
  return [
    'TPM 2.0 (swtpm)',
    row('swtpm', `MISSING: ${s.reason ?? 'not found'}; VMs with a TPM cannot start`),
    ...fixRow(s.fix ?? ''),
  ];
}

function sharesSection(report: HostReport): string[] {
  const v = report.virtiofsd;
  const how = !v.path
    ? 'not installed: shared folders use 9p'
    : v.flavour === 'qemu'
      ? `${v.path} (QEMU's own: virtio-fs only when vmdesk runs as root and the share is read-write; else 9p)`
      : `${v.path} (runs as you: shared folders use virtio-fs)`;
  return ['Shared folders (virtiofsd)', row('virtiofsd', how), ...(v.path ? [] : fixRow(v.fix))];
}

function memlockSection(report: HostReport): string[] {
  const m = report.memlock;
  const via = m.source === 'native' ? 'getrlimit' : m.source === 'proc' ? '/proc/self/limits' : 'unknown';
  const out = [
    'Locked memory (RLIMIT_MEMLOCK)',
    row('limits', `soft ${formatBytes(m.soft)} · hard ${formatBytes(m.hard)} (via ${via})`),
  ];
  if (m.note) out.push(row('', m.note));
  out.push(
    row(
      '',
      'only VMs with device passthrough lock their RAM; vmdesk raises the soft limit up to the hard one before starting them, and says how to raise the hard one when that is not enough',
    ),
  );
  return out;
}

function nativeSection(report: HostReport): string[] {
  const n = report.native;
  const status = n.loaded
    ? 'koffi loaded (real libc calls)'
    : `pure-JS fallback: ${n.loadError ?? 'native layer not in use'}; KVM API version, setrlimit and flock are unavailable`;
  return ['Native layer', row('status', status)];
}

/** `accelOverride`: the value of VMDESK_ACCEL, which wins over every VM's choice. */
export function formatHostReport(report: HostReport, accelOverride?: string): string {
  const header = `vmdesk host report: ${report.platform} ${report.hostArch}, probed in ${report.probeMs} ms`;
  const sections = [
    [header],
    qemuSection(report),
    accelSection(report, accelOverride),
    firmwareSection(report),
    tpmSection(report),
    sharesSection(report),
    memlockSection(report),
    nativeSection(report),
  ];
  if (report.notes.length) sections.push(['Notes', ...report.notes.map((n) => row('-', n))]);
  return `${sections.map((s) => s.join('\n')).join('\n\n')}\n`;
}
