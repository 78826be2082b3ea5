/**
 * The exact fixes the doctor proposes, in one place: the same text serves the CLI, the wizard, and
 * (for the file contents) the privileged helper, whose output a test compares with these lines.
 */
import { KIB, memlockFixText } from '../host/memlock.js';
import type { MdevFix } from '../common/mdev-types.js';
import { PACKAGED_HELPER } from './privileged.js';

export const UDEV_RULES_FILE = '/etc/udev/rules.d/99-vmdesk-vfio.rules';
/**
 * What the rule runs, as root, for each /dev/vfio/<N>: the packaged helper, which answers
 * `is-mdev-group N` (exit 0 only when every device in /sys/kernel/iommu_groups/N is a mediated
 * device). Never a path in a checkout a user can change: the helper refuses to write the rule until
 * this file is root's alone.
 */
export const UDEV_MATCHER = PACKAGED_HELPER;
/**
 * VFIO group nodes (/dev/vfio/<N>) are root-only (0600) by default. Only the groups of mediated
 * devices go to group kvm; a vfio-pci group is a whole device (a GPU, a NIC, a disk controller) and
 * stays root's. Why a matcher run by udev rather than a chgrp at create time or per-device rules:
 * the group device (/sys/devices/virtual/vfio/<N>) has no sysfs link to its members that a udev
 * key could test, group numbers change when mdevctl recreates a persistent device at boot (so a
 * rule naming <N>, or a chgrp after create, does not survive a reboot), and older udev resets an
 * unclaimed node to root 0600 on "add", racing a chgrp. udev runs the matcher for each group node
 * as it appears, at boot as after `vmdesk mdev create`; the matcher does not know which mdevs are
 * vmdesk's (an assigned device may have been made with mdevctl), so it opens every mdev's group.
 * The container /dev/vfio/vfio is 0666 from the kernel (drivers/vfio/container.c), restated in case
 * a distro tightened it.
 */
export const UDEV_RULES = [
  `SUBSYSTEM=="vfio", KERNEL=="[0-9]*", PROGRAM="${UDEV_MATCHER} is-mdev-group %k", GROUP="kvm", MODE="0660"`,
  'SUBSYSTEM=="misc", KERNEL=="vfio", MODE="0666"',
];
export const VFIO_GROUP = 'kvm';
export const UDEV_APPLY =
  'sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=vfio --subsystem-match=misc';

/**
 * What vmdesk's rule file holds: `narrow` (today's rule), `broad` (a line that gives VFIO groups
 * away without asking the matcher, as vmdesk's rule did before: every VFIO group, passthrough
 * devices included, to group kvm), or `other` (edited by hand; left alone).
 */
export function vfioRuleKind(text: string): 'narrow' | 'broad' | 'other' {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.some((l) => /SUBSYSTEM=="vfio"/.test(l) && /\b(GROUP|OWNER|MODE)=/.test(l) && !/\bPROGRAM=/.test(l)))
    return 'broad';
  return lines.length === UDEV_RULES.length && lines.every((l, i) => l === UDEV_RULES[i]) ? 'narrow' : 'other';
}

/** Relative to a checkout: the doctor does not know where the user's copy is. */
const INSTALL_MATCHER = `sudo install -D -o root -g root -m 0755 resources/mdev-helper/vmdesk-mdev-helper ${UDEV_MATCHER}`;

export const MODULES_LOAD_FILE = '/etc/modules-load.d/vmdesk-vfio.conf';
export const VFIO_MODULES = ['vfio', 'vfio_iommu_type1', 'mdev'];

export const memlockDropIn = (user: string) => `/etc/security/limits.d/90-vmdesk-memlock-${user}.conf`;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes the rule file and applies it: one command to paste. `why` replaces the first line. */
export function udevFix(user: string, inGroup: boolean | undefined, why?: string): MdevFix {
  const lines = [
    why ?? `create ${UDEV_RULES_FILE} containing`,
    ...UDEV_RULES.map((l) => `    ${l}`),
    `and apply it: ${UDEV_APPLY}`,
    `The rule gives group ${VFIO_GROUP} only the VFIO groups of mediated devices, never a vfio-pci (passthrough) group: udev asks ${UDEV_MATCHER} (is-mdev-group) about each one, so that file must be installed, owned by root (from a checkout: ${INSTALL_MATCHER}).`,
  ];
  if (inGroup === false)
    lines.push(
      `You are not in group ${VFIO_GROUP}: sudo usermod -aG ${VFIO_GROUP} ${user}, then log out and in again.`,
    );
  return {
    text: lines.join('\n'),
    command: `printf '%s\\n' ${UDEV_RULES.map(q).join(' ')} | sudo tee ${UDEV_RULES_FILE} >/dev/null && ${UDEV_APPLY}`,
    privileged: true,
    action: { kind: 'udev-rule' },
  };
}

/** The old broad rule: replace it, and give back to root the passthrough groups it opened. */
export function broadRuleFix(user: string, inGroup: boolean | undefined): MdevFix {
  const fix = udevFix(
    user,
    inGroup,
    `replace ${UDEV_RULES_FILE} with the narrow rule (Fix with administrator rights does this, and gives the passthrough groups the old rule opened back to root, 0600):`,
  );
  return {
    ...fix,
    text: `${fix.text}\nBy hand, the command below replaces the file; a passthrough group the old rule opened stays open until you reboot or run sudo chmod 0600 /dev/vfio/<N> on it.`,
  };
}

/** The rule is in place but the matcher it runs is not, so no VFIO group is opened. */
export function matcherFix(): MdevFix {
  return {
    text: `install the helper where the rule expects it, root-owned (from a vmdesk checkout: ${INSTALL_MATCHER}; a vmdesk package installs it there), then apply the rule again: ${UDEV_APPLY}`,
    privileged: true,
  };
}

export function groupFix(group: string, user: string, what: string): MdevFix {
  return {
    text: `${what} belongs to group ${group}, and you are not in it: add yourself, then log out and in again (group changes apply to new logins).`,
    command: `sudo usermod -aG ${group} ${user}`,
    privileged: true,
  };
}

/** "6.1.0-18-amd64" → [6, 1]; undefined when unparsable. */
export function kernelVersion(release: string): [number, number] | undefined {
  const m = release.match(/^(\d+)\.(\d+)/);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** vfio_mdev.ko was folded into the mdev core in Linux 5.16. */
export function needsVfioMdevModule(release: string): boolean {
  const v = kernelVersion(release);
  return v !== undefined && (v[0] < 5 || (v[0] === 5 && v[1] < 16));
}

export function modulesFix(missing: string[]): MdevFix {
  const all = [...new Set([...VFIO_MODULES, ...missing])];
  return {
    text: [
      `load the missing module${missing.length === 1 ? '' : 's'} now: sudo modprobe -a ${missing.join(' ')}`,
      `and at every boot: list ${all.join(', ')} in ${MODULES_LOAD_FILE} (one per line).`,
    ].join('\n'),
    command: `sudo modprobe -a ${missing.join(' ')} && printf '%s\\n' ${all.join(' ')} | sudo tee ${MODULES_LOAD_FILE} >/dev/null`,
    privileged: true,
    ...(missing.every((m) => VFIO_MODULES.includes(m)) ? { action: { kind: 'modules' as const } } : {}),
  };
}

export function iommuFix(cpuVendor: 'intel' | 'amd' | undefined): MdevFix {
  const intel = 'intel_iommu=on iommu=pt';
  const params =
    cpuVendor === 'amd'
      ? 'amd_iommu=on iommu=pt'
      : cpuVendor === 'intel'
        ? intel
        : `${intel} (Intel) or amd_iommu=on iommu=pt (AMD)`;
  const sedParams = cpuVendor === 'amd' ? 'amd_iommu=on iommu=pt' : intel;
  return {
    text: [
      'Enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, then turn the IOMMU on in the kernel:',
      `add ${params} to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub,`,
      'run `sudo update-grub` (Debian/Ubuntu) or `sudo grub2-mkconfig -o /boot/grub2/grub.cfg` (Fedora; or',
      `\`sudo grubby --update-kernel=ALL --args="${sedParams}"\`), and reboot.`,
      ...(cpuVendor === 'amd'
        ? ['(On AMD the kernel enables the IOMMU by itself once the firmware does; the parameter does no harm.)']
        : []),
    ].join('\n'),
    command: `sudo sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT="/&${sedParams} /' /etc/default/grub && sudo update-grub`,
    privileged: true,
  };
}

/** limits.d drop-in for the login sessions (memlockFixText also names LimitMEMLOCK= for units). */
export function memlockFix(user: string, neededBytes: number): MdevFix {
  const kib = Math.ceil(neededBytes / KIB);
  return {
    text: `${memlockFixText(user, neededBytes)}\n(a drop-in file in /etc/security/limits.d/ works the same; vmdesk's fix writes ${memlockDropIn(user)})`,
    command: `printf '%s\\n' ${q(`${user} hard memlock ${kib}`)} ${q(`${user} soft memlock ${kib}`)} | sudo tee ${memlockDropIn(user)} >/dev/null`,
    privileged: true,
    action: { kind: 'memlock', user, kib },
  };
}
