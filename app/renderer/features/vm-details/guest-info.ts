/**
 * What the Overview says about the guest itself (its QEMU guest agent's answers) and about the
 * guest-facing hardware vmdesk gives it (firmware, TPM, devices, clock).
 */
import type { GuestAgentInfo, VmDefinition, VmSummary } from '../../../main/common/vm-types.js';

/** "UEFI with Secure Boot", "UEFI" or "BIOS". */
export function firmwareText(d: Pick<VmDefinition, 'firmware' | 'secureBoot'>): string {
  if (d.firmware === 'bios') return 'BIOS';
  return d.secureBoot ? 'UEFI with Secure Boot' : 'UEFI';
}

const DISK_WORDS = { virtio: 'virtio', sata: 'SATA' } as const;
const NIC_WORDS = { virtio: 'virtio', e1000e: 'Intel e1000e' } as const;

/** "SATA disks, Intel e1000e network card". */
export function devicesText(d: Pick<VmDefinition, 'devices'>): string {
  return `${DISK_WORDS[d.devices.disk]} disks, ${NIC_WORDS[d.devices.nic]} network card`;
}

/**
 * The Guest card: nothing while QEMU does not run; while it runs, what the agent said, or that
 * none answered (a driver without the agent sends no `guest` at all: the same as none answering).
 */
export type GuestCard = { kind: 'hidden' } | { kind: 'no-agent' } | { kind: 'info'; info: GuestAgentInfo };

export function guestCard(vm: Pick<VmSummary, 'state' | 'guest'>): GuestCard {
  if (vm.state !== 'running' && vm.state !== 'paused') return { kind: 'hidden' };
  if (vm.guest?.connected && vm.guest.info) return { kind: 'info', info: vm.guest.info };
  // A paused guest cannot answer; say nothing rather than that no agent is there.
  if (vm.state === 'paused') return { kind: 'hidden' };
  return { kind: 'no-agent' };
}

/** The OS as the agent names it: its pretty name, else name and version; the kernel apart. */
export function guestOsText(os: GuestAgentInfo['os']): string | undefined {
  if (!os) return undefined;
  return os.prettyName ?? [os.name, os.version].filter(Boolean).join(' ');
}

/** Addresses by interface, IPv4 first within each: [["enp0s2", ["10.0.2.15/24", "fec0::1/64"]]]. */
export function addressesByInterface(addresses: GuestAgentInfo['addresses']): [string, string[]][] {
  const byIface = new Map<string, GuestAgentInfo['addresses']>();
  for (const a of addresses) byIface.set(a.iface, [...(byIface.get(a.iface) ?? []), a]);
  return [...byIface].map(([iface, list]) => [
    iface,
    [...list.filter((a) => a.family === 'ipv4'), ...list.filter((a) => a.family === 'ipv6')].map(
      (a) => `${a.address}/${a.prefix}`,
    ),
  ]);
}

/**
 * The guest's addresses for the Overview's summary, without prefix lengths (what one types into
 * ssh or a browser): IPv4 first, then IPv6, each once. Empty while nothing is known.
 */
export function guestIps(vm: Pick<VmSummary, 'state' | 'guest'>): string[] {
  const card = guestCard(vm);
  if (card.kind !== 'info') return [];
  const all = card.info.addresses;
  const ordered = [...all.filter((a) => a.family === 'ipv4'), ...all.filter((a) => a.family === 'ipv6')];
  return [...new Set(ordered.map((a) => a.address))];
}

/** The OS in one phrase: the agent's name for it while it answers, else what the VM was made for. */
export function osSummary(vm: Pick<VmSummary, 'state' | 'guest' | 'definition'>): string | undefined {
  const card = guestCard(vm);
  const said = card.kind === 'info' ? guestOsText(card.info.os) : undefined;
  return said || vm.definition?.os?.name;
}
