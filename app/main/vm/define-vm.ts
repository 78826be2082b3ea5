/**
 * Turning what a user asked for (`vmdesk define`, the create wizard) into a VM definition, with
 * every check done before anything is written, and nothing half-made left when a step fails.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { VmdeskError } from '../common/errors.js';
import * as v from 'valibot';
import { normalizeVmName, sameVmName, vmNameProblem } from '../common/names.js';
import {
  DEFINITION_VERSION,
  diskTarget,
  forwardLabel,
  forwardsOverlap,
  MAX_CPUS,
  MAX_SATA_DISKS,
  type DiskSpec,
  type PortForward,
  type VmDefinition,
} from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
import { checkedShares } from './shares.js';
import { makePrivateDir, withStorageErrors } from '../paths/storage-errors.js';
import { defaultDataDir, nvramPath, ownedDiskPath } from '../paths/vm-files.js';
import { DefineVmInputSchema, type DefineVmInput } from '../common/contract.js';
import { describeIssues } from './definition-store.js';
import type { HostServices } from './host-services.js';

const execFileP = promisify(execFile);

// Sizes are common/sizes.ts's; re-exported for the driver's modules that take them from here.
import { formatMiB, parseSize } from '../common/sizes.js';
export { formatMiB, parseSize };

/** "tcp:2222:22", "udp:127.0.0.1:5353:53" */
export function parseForward(text: string): PortForward {
  const parts = text.split(':');
  const bad = () =>
    new VmdeskError(
      'invalid-argument',
      `"${text}" is not a port forward. Write it as tcp:HOSTPORT:GUESTPORT, e.g. tcp:2222:22 (or tcp:ADDRESS:HOSTPORT:GUESTPORT).`,
      { field: 'forward' },
    );
  if (parts.length !== 3 && parts.length !== 4) throw bad();
  const proto = parts[0];
  if (proto !== 'tcp' && proto !== 'udp') throw bad();
  const [hostAddr, hp, gp] =
    parts.length === 4 ? [parts[1]!, parts[2]!, parts[3]!] : ['127.0.0.1', parts[1]!, parts[2]!];
  if (!/^\d{1,5}$/.test(hp) || !/^\d{1,5}$/.test(gp)) throw bad();
  const hostPort = Number(hp);
  const guestPort = Number(gp);
  for (const p of [hostPort, guestPort]) if (p < 1 || p > 65535) throw bad();
  // An empty address would make QEMU listen on every interface; say so explicitly (0.0.0.0).
  if (!net.isIPv4(hostAddr))
    throw new VmdeskError(
      'invalid-argument',
      `"${hostAddr}" is not an IPv4 address to listen on. Use 127.0.0.1 (only this machine) or 0.0.0.0 (every interface).`,
      { field: 'forward' },
    );
  return { proto, hostAddr, hostPort, guestPort };
}

/**
 * The host socket of a forward, for removing it: "tcp:2222", "tcp:0.0.0.0:2222", or a whole
 * forward ("tcp:2222:22", "tcp:0.0.0.0:2222:22"), whose guest port is then not needed.
 */
export function parseForwardHost(text: string): { proto: 'tcp' | 'udp'; hostAddr: string; hostPort: number } {
  const parts = text.split(':');
  if (parts.length === 2 || (parts.length === 3 && net.isIPv4(parts[1]!))) {
    const [proto, a, b] = parts as [string, string, string | undefined];
    const { hostAddr, hostPort } = parseForward(`${proto}:${b === undefined ? '127.0.0.1' : a}:${b ?? a}:1`);
    return { proto: proto as 'tcp' | 'udp', hostAddr: hostAddr ?? '127.0.0.1', hostPort };
  }
  const { proto, hostAddr, hostPort } = parseForward(text);
  return { proto, hostAddr: hostAddr ?? '127.0.0.1', hostPort };
}

/** qcow2 starts with "QFI\xfb"; anything else we treat as raw. We read the magic ourselves so
 * QEMU never has to probe. */
export function detectDiskFormat(file: string): 'qcow2' | 'raw' {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, 0);
    return b.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw';
  } finally {
    fs.closeSync(fd);
  }
}

function invalid(field: string, message: string): VmdeskError {
  return new VmdeskError('invalid-argument', message, { field });
}

export function checkReadableFile(file: string, field: string, what: string, writable = false): string {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw invalid(field, `The ${what} ${abs} does not exist. Check the path.`);
  }
  if (st.isDirectory()) throw invalid(field, `The ${what} ${abs} is a directory; give the path of a file.`);
  if (!st.isFile() && !st.isBlockDevice()) throw invalid(field, `The ${what} ${abs} is not a regular file.`);
  try {
    fs.accessSync(abs, writable ? fs.constants.R_OK | fs.constants.W_OK : fs.constants.R_OK);
  } catch {
    throw invalid(
      field,
      `The ${what} ${abs} is not ${writable ? 'readable and writable' : 'readable'} by you. Fix its permissions (e.g. chmod u+${writable ? 'rw' : 'r'} ${abs}).`,
    );
  }
  return abs;
}

/** Memory and CPUs this host can give a VM (a new one, or one whose settings change). */
export function assertFitsHost(want: { memoryMiB?: number; cpus?: number }, host: HostServices): void {
  const hostMiB = host.hostMemoryMiB();
  if (want.memoryMiB !== undefined && want.memoryMiB > hostMiB) {
    throw new VmdeskError(
      'insufficient-resources',
      `This host has ${formatMiB(hostMiB)} of memory; give the VM less than that (asked for ${formatMiB(want.memoryMiB)}).`,
      { field: 'memory' },
    );
  }
  const hostCpus = host.hostCpus();
  if (want.cpus !== undefined && want.cpus > Math.min(hostCpus, MAX_CPUS)) {
    throw new VmdeskError(
      'insufficient-resources',
      `This host has ${hostCpus} CPUs; give the VM at most ${Math.min(hostCpus, MAX_CPUS)}.`,
      { field: 'cpus' },
    );
  }
}

/**
 * A warning for memory that fits but leaves the host little (more than 80 % of it): the host
 * swaps, or the kernel kills something, once the guest uses it all.
 */
export function memoryNotice(memoryMiB: number, host: HostServices): string | undefined {
  const hostMiB = host.hostMemoryMiB();
  if (memoryMiB <= hostMiB * 0.8) return undefined;
  return `${formatMiB(memoryMiB)} is ${Math.round((memoryMiB / hostMiB) * 100)} % of this host's ${formatMiB(hostMiB)} of memory: the host may swap or kill programs once the guest uses it all. Give it at most ${formatMiB(Math.floor(hostMiB * 0.8))} to be safe.`;
}

/** The user-facing field (the CLI's option, the form's input) for a contract field path. */
const FIELD_OF: Record<string, string> = {
  memoryMiB: 'memory',
  'disk.sizeBytes': 'diskSize',
  forwards: 'forward',
};
function fieldOf(dotPath: string | null): string | undefined {
  if (dotPath === null) return undefined;
  if (FIELD_OF[dotPath]) return FIELD_OF[dotPath];
  if (dotPath.startsWith('forwards.')) return 'forward';
  return dotPath.split('.')[0];
}

/**
 * Checks the input against the contract's schema (the limits live there, one place; direct
 * callers get them too), the host and the other VMs. Pure apart from reading the files it names.
 */
export function validateDefineInput(input: DefineVmInput, existing: VmDefinition[], host: HostServices): void {
  const checked = v.safeParse(DefineVmInputSchema, input);
  if (!checked.success) {
    const issue = checked.issues[0]!;
    const field = fieldOf(v.getDotPath(issue));
    throw new VmdeskError(
      'invalid-argument',
      issue.expected === null ? issue.message : describeIssues([issue]),
      field ? { field } : undefined,
    );
  }
  const name = normalizeVmName(input.name);
  const np = vmNameProblem(name);
  if (np) throw invalid('name', np);
  if (existing.some((d) => sameVmName(d.name, name))) {
    throw new VmdeskError('name-taken', `A VM named "${name}" already exists. Choose another name.`, {
      field: 'name',
    });
  }
  assertFitsHost(input, host);
  if (input.cdrom) checkReadableFile(input.cdrom, 'cdrom', 'ISO image');
  for (const c of input.moreCdroms ?? []) checkReadableFile(c, 'drivers', 'driver disc');
  if (input.secureBoot && input.firmware === 'bios')
    throw invalid('secureBoot', 'Secure Boot is part of UEFI: choose UEFI firmware, or leave Secure Boot off.');
  if (input.secureBoot && (input.arch ?? 'x86_64') === 'aarch64')
    throw invalid(
      'secureBoot',
      'vmdesk offers Secure Boot for x86_64 VMs only (no aarch64 firmware ships with keys enrolled).',
    );
  const diskCount = (input.disk ? 1 : 0) + (input.moreDisks?.length ?? 0);
  if (input.diskBus === 'sata' && diskCount > MAX_SATA_DISKS)
    throw invalid(
      'diskBus',
      `A VM with SATA disks can have at most ${MAX_SATA_DISKS} of them; this asks for ${diskCount}. Use virtio disks for more.`,
    );
  const seen = new Set<string>();
  for (const d of [...(input.disk?.path ? [input.disk] : []), ...(input.moreDisks ?? [])]) {
    const abs = checkReadableFile(d.path!, 'disk', 'disk image', true);
    if (seen.has(abs))
      throw new VmdeskError('invalid-argument', `The disk ${abs} is given twice. Give each disk once.`, {
        field: 'disk',
      });
    seen.add(abs);
    const user = existing.find((x) => x.disks.some((k) => k.path === abs));
    if (user)
      throw new VmdeskError(
        'disk-in-use',
        `The disk ${abs} already belongs to the VM "${user.name}". Use a copy, or delete that VM with --keep-disks first.`,
        { field: 'disk' },
      );
  }
  for (const f of input.forwards ?? []) {
    const other = existing.find((d) => d.network.forwards.some((g) => forwardsOverlap(f, g)));
    if (other)
      throw invalid(
        'forward',
        `Host port ${forwardLabel(f)} is already forwarded by the VM "${other.name}" (0.0.0.0 covers every address). Pick another host port.`,
      );
  }
}

/**
 * Creates the VM's files and returns its definition. The definition file is written by the
 * caller last, so a failure here leaves no VM; this function removes its own data dir on error.
 */
export async function createVmFiles(
  input: DefineVmInput,
  id: string,
  paths: AppPaths,
  host: HostServices,
  signal?: AbortSignal,
  /** Its data folder (VmFiles.dataDir); recorded in the definition when not the default one. */
  dataDir: string = defaultDataDir(paths, id),
): Promise<VmDefinition> {
  const arch = input.arch ?? 'x86_64';
  const secureBoot = input.secureBoot ?? false;
  const firmware = arch === 'aarch64' || secureBoot ? 'uefi' : (input.firmware ?? 'bios');
  const disks: DiskSpec[] = [];
  let nvram: string | null = null;
  try {
    if (input.disk?.path) {
      const abs = path.resolve(input.disk.path);
      disks.push({
        path: abs,
        target: diskTarget(disks.length),
        format: input.disk.format ?? detectDiskFormat(abs),
        owned: false,
        readOnly: false,
      });
    } else if (input.disk?.sizeBytes !== undefined) {
      makePrivateDir(dataDir, paths);
      const free = fs.statfsSync(dataDir);
      const freeBytes = free.bavail * free.bsize;
      if (input.disk.sizeBytes > freeBytes) {
        throw new VmdeskError(
          'insufficient-resources',
          `A ${formatMiB(Math.round(input.disk.sizeBytes / 2 ** 20))} disk does not fit: ${formatMiB(Math.floor(freeBytes / 2 ** 20))} free in ${path.dirname(dataDir)}. Choose a smaller --disk-size or free space.`,
          { field: 'diskSize' },
        );
      }
      const file = ownedDiskPath(dataDir, 0, 'qcow2');
      const qemuImg = await host.qemuImg();
      try {
        await execFileP(qemuImg, ['create', '-q', '-f', 'qcow2', file, String(input.disk.sizeBytes)], { signal });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new VmdeskError('qemu-failed', `qemu-img could not create the disk: ${(e.stderr || e.message).trim()}`);
      }
      fs.chmodSync(file, 0o600);
      disks.push({ path: file, target: diskTarget(0), format: 'qcow2', owned: true, readOnly: false });
    }
    for (const d of input.moreDisks ?? []) {
      const abs = path.resolve(d.path);
      disks.push({
        path: abs,
        target: diskTarget(disks.length),
        format: d.format ?? detectDiskFormat(abs),
        owned: false,
        readOnly: false,
      });
    }
    if (firmware === 'uefi') {
      const fw = await host.uefiFirmware(arch, { secureBoot });
      makePrivateDir(dataDir, paths);
      nvram = nvramPath(dataDir, secureBoot);
      const vars = nvram;
      withStorageErrors(vars, () => fs.copyFileSync(fw.varsTemplate, vars), paths);
      fs.chmodSync(nvram, 0o600);
    }
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    version: DEFINITION_VERSION,
    secureBoot,
    tpm: input.tpm ?? false,
    devices: { disk: input.diskBus ?? 'virtio', nic: input.nic ?? 'virtio' },
    clock: input.clock ?? 'utc',
    hyperv: input.hyperv ?? false,
    shares: checkedShares(input.shares ?? []),
    // A desktop VM has sound and a shared clipboard unless asked otherwise (headless: no clipboard).
    sound: input.sound ?? true,
    clipboard: input.clipboard ?? (input.display ?? 'std') !== 'none',
    usb: (input.usb ?? []).map((u) => ({ ...u })),
    ...(input.os ? { os: { ...input.os } } : {}),
    ...(dataDir !== defaultDataDir(paths, id) ? { dataDir } : {}),
    id,
    name: normalizeVmName(input.name),
    arch,
    memoryMiB: input.memoryMiB,
    cpus: input.cpus,
    accel: input.accel ?? 'auto',
    firmware,
    disks,
    // Always one drive, so a disc can go in later without a restart.
    cdroms: [input.cdrom ? path.resolve(input.cdrom) : null, ...(input.moreCdroms ?? []).map((c) => path.resolve(c))],
    boot: input.cdrom ? ['cdrom', 'disk'] : ['disk', 'cdrom'],
    network: {
      mode: 'user',
      forwards: (input.forwards ?? []).map((f) => ({ ...f, hostAddr: f.hostAddr ?? '127.0.0.1' })),
    },
    display: input.display ?? 'std',
    nvram,
    mdevs: [],
    createdAt: new Date().toISOString(),
  };
}
