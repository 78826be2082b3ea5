/** Can this user run KVM guests, and if not, exactly why. Linux only. */
import type { NativeHost } from '../../native/index.js';
import { KVM_API_VERSION, KVM_CAP_MAX_VCPUS, KVM_CAP_USER_MEMORY } from '../../native/index.js';
import type { HostFs, HostStat } from './host-io.js';
import { errnoOf, pathExists } from './host-io.js';

export const KVM_DEVICE = '/dev/kvm';

/** The host side of KVM (device, permissions, kernel API), before any QEMU binary is considered. */
export type KvmHostState = { usable: true; detail: string } | { usable: false; reason: string; fix?: string };

export interface KvmProbeInput {
  fs: HostFs;
  native: NativeHost;
  /** QEMU's name for the host CPU: 'x86_64' gets the vmx/svm diagnosis. */
  hostArch: string;
}

/** CPU flags of the first processor in /proc/cpuinfo ("flags : fpu vme ..."), empty when unreadable. */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  return new Set(line.trim().split(/\s+/).filter(Boolean));
}

async function readOr(fs: HostFs, path: string, fallback: string): Promise<string> {
  try {
    return await fs.readText(path);
  } catch {
    return fallback;
  }
}

const NESTED_FIX =
  'enable nested virtualisation on the outer host: KVM `options kvm_intel nested=1` (or kvm_amd) and `-cpu host`; ' +
  'VMware "Virtualize Intel VT-x/EPT"; Hyper-V `Set-VMProcessor -ExposeVirtualizationExtensions $true`; VirtualBox "Enable Nested VT-x/AMD-V"';

/** /dev/kvm does not exist: tell firmware-disabled, module-not-loaded and nested-VM apart. */
async function diagnoseMissingDevice(input: KvmProbeInput): Promise<KvmHostState> {
  if (input.hostArch !== 'x86_64') {
    return {
      usable: false,
      reason: `${KVM_DEVICE} is missing: the kernel offers no KVM on this CPU (or this is a VM without nested virtualisation)`,
      fix: `use a kernel built with CONFIG_KVM that boots at EL2 (\`sudo dmesg | grep -i kvm\` says why it did not start); in a VM, ${NESTED_FIX}`,
    };
  }
  const flags = parseCpuFlags(await readOr(input.fs, '/proc/cpuinfo', ''));
  const vendor = flags.has('vmx')
    ? { ext: 'VT-x', module: 'kvm_intel' }
    : flags.has('svm')
      ? { ext: 'AMD-V', module: 'kvm_amd' }
      : undefined;
  if (vendor) {
    if (!(await pathExists(input.fs, `/sys/module/${vendor.module}`))) {
      return {
        usable: false,
        reason: `${KVM_DEVICE} is missing: the CPU supports ${vendor.ext} but the ${vendor.module} module is not loaded`,
        fix: `sudo modprobe ${vendor.module} (to load it at every boot: echo ${vendor.module} | sudo tee /etc/modules-load.d/kvm.conf); if modprobe says "Operation not supported", enable ${vendor.ext} in the BIOS/UEFI setup`,
      };
    }
    return {
      usable: false,
      reason: `${KVM_DEVICE} is missing although ${vendor.module} is loaded`,
      fix: `see \`sudo dmesg | grep -i kvm\` ("disabled by bios" means: enable ${vendor.ext} in the BIOS/UEFI setup); then reload: sudo modprobe -r ${vendor.module} && sudo modprobe ${vendor.module}`,
    };
  }
  if (flags.has('hypervisor')) {
    return {
      usable: false,
      reason: `${KVM_DEVICE} is missing: this machine is itself a virtual machine, and its hypervisor does not pass VT-x/AMD-V through (no vmx/svm CPU flag)`,
      fix: NESTED_FIX,
    };
  }
  if (flags.size === 0) {
    return {
      usable: false,
      reason: `${KVM_DEVICE} is missing (and /proc/cpuinfo could not be read to tell why)`,
      fix: 'enable VT-x/AMD-V in the BIOS/UEFI setup, then: sudo modprobe kvm_intel (or kvm_amd)',
    };
  }
  return {
    usable: false,
    reason: `${KVM_DEVICE} is missing: hardware virtualisation is off (the CPU shows neither the vmx nor the svm flag)`,
    fix: 'enable Intel VT-x or AMD-V (SVM) in the BIOS/UEFI setup, then reboot',
  };
}

/** One line of /etc/group: name:x:gid:member,member */
function groupById(groupFile: string, gid: number): { name: string; members: string[] } | undefined {
  for (const line of groupFile.split('\n')) {
    const [name, , id, members] = line.split(':');
    if (name && id !== undefined && Number(id) === gid)
      return {
        name,
        members: (members ?? '')
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean),
      };
  }
  return undefined;
}

function userById(passwdFile: string, uid: number | undefined): string | undefined {
  if (uid === undefined) return undefined;
  for (const line of passwdFile.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && Number(id) === uid) return name;
  }
  return undefined;
}

/** open(/dev/kvm) said EACCES/EPERM: which of group membership, a stale login or the device mode. */
async function diagnosePermission(input: KvmProbeInput, st: HostStat, errno: string): Promise<KvmHostState> {
  const { fs, native } = input;
  const [groupFile, passwdFile] = await Promise.all([readOr(fs, '/etc/group', ''), readOr(fs, '/etc/passwd', '')]);
  const group = groupById(groupFile, st.gid);
  const groupName = group?.name ?? `gid ${st.gid}`;
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  const owner = `${userById(passwdFile, st.uid) ?? st.uid}:${groupName}`;
  const user = userById(passwdFile, native.getuid());
  const who = user ? `user ${user}` : 'this user';

  if ((st.mode & 0o060) !== 0o060 || st.gid === 0) {
    return {
      usable: false,
      reason: `${KVM_DEVICE} (mode ${mode}, owner ${owner}) is not writable by ${who}, and no group is allowed to use it (${errno})`,
      fix:
        'sudo groupadd -f kvm && sudo chown root:kvm /dev/kvm && sudo chmod 0660 /dev/kvm; keep it after reboots with ' +
        `echo 'KERNEL=="kvm", GROUP="kvm", MODE="0660"' | sudo tee /etc/udev/rules.d/65-kvm.rules; then sudo usermod -aG kvm $USER, and log out and in`,
    };
  }
  const processGroups = new Set([...(native.getgroups() ?? []), native.getgid()]);
  if (processGroups.has(st.gid)) {
    return {
      usable: false,
      reason: `${KVM_DEVICE} (mode ${mode}, owner ${owner}) refused ${who} although this process is in group ${groupName} (${errno}): an ACL, SELinux/AppArmor or a container denies it`,
      fix: `check \`getfacl ${KVM_DEVICE}\`, the audit log (\`sudo journalctl -k | grep -i denied\`), or the container's device list`,
    };
  }
  if (user && group?.members.includes(user)) {
    return {
      usable: false,
      reason: `${KVM_DEVICE} is not writable yet: ${user} was added to group ${groupName}, but this session started before that`,
      fix: `log out and in again (or reboot); to try at once from a terminal: newgrp ${groupName}, then start vmdesk there`,
    };
  }
  return {
    usable: false,
    reason: `${KVM_DEVICE} (mode ${mode}, owner ${owner}) is not writable by ${who}, who is not in group ${groupName} (${errno})`,
    fix: `sudo usermod -aG ${groupName} $USER, then log out and in`,
  };
}

/** Checks /dev/kvm the way QEMU will use it: open read-write, then the API version ioctl. */
export async function probeKvmHost(input: KvmProbeInput): Promise<KvmHostState> {
  const { fs, native } = input;
  let st: HostStat;
  try {
    st = await fs.stat(KVM_DEVICE);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return diagnoseMissingDevice(input);
    return { usable: false, reason: `cannot stat ${KVM_DEVICE}: ${errnoOf(err) ?? (err as Error).message}` };
  }
  if (!st.isCharacterDevice)
    return {
      usable: false,
      reason: `${KVM_DEVICE} exists but is not a character device`,
      fix: `sudo rm ${KVM_DEVICE} && sudo modprobe kvm`,
    };

  let fd: number;
  try {
    fd = await fs.openReadWrite(KVM_DEVICE);
  } catch (err) {
    const errno = errnoOf(err) ?? (err as Error).message;
    if (errno === 'EACCES' || errno === 'EPERM') return diagnosePermission(input, st, errno);
    return {
      usable: false,
      reason: `${KVM_DEVICE} cannot be opened (${errno})`,
      fix: 'see `sudo dmesg | grep -i kvm`; ENXIO/ENODEV usually means the kvm_intel/kvm_amd module failed to initialise',
    };
  }
  try {
    const api = native.kvmApiVersion(fd);
    if (!api.ok)
      return { usable: true, detail: `${KVM_DEVICE} opens read-write (API version not checked: ${api.reason})` };
    if (api.value !== KVM_API_VERSION) {
      return {
        usable: false,
        reason: `${KVM_DEVICE} reports KVM API version ${api.value}, but QEMU needs ${KVM_API_VERSION}`,
        fix: 'update the kernel (or its kvm module) to a standard build',
      };
    }
    const mem = native.kvmCheckExtension(fd, KVM_CAP_USER_MEMORY);
    if (mem.ok && mem.value === 0) {
      return {
        usable: false,
        reason: `the kernel's KVM lacks KVM_CAP_USER_MEMORY, which QEMU requires`,
        fix: 'update the kernel to a standard build',
      };
    }
    const vcpus = native.kvmCheckExtension(fd, KVM_CAP_MAX_VCPUS);
    return {
      usable: true,
      detail: `${KVM_DEVICE} is usable (API ${api.value}${vcpus.ok && vcpus.value > 0 ? `, up to ${vcpus.value} vCPUs per VM` : ''})`,
    };
  } finally {
    await fs.close(fd).catch(() => {});
  }
}
