/** RLIMIT_MEMLOCK: what it is, raising it before spawning a QEMU that locks memory (VFIO
 * passthrough, mlock=on), and the exact fix when even the hard limit is too low. */
import type { NativeHost, Rlimit, RlimitValue } from '../../native/index.js';
import type { MemlockReport } from '../common/host-types.js';

export const KIB = 1024;
export const GIB = 1024 ** 3;

export function readMemlock(native: NativeHost): MemlockReport {
  const r = native.getMemlockLimit();
  if (!r.ok) return { soft: null, hard: null, source: 'unknown', note: r.reason };
  return { soft: r.value.soft, hard: r.value.hard, source: native.loaded ? 'native' : 'proc' };
}

/** What a VM with `guestRamBytes` needs locked: all guest RAM (VFIO pins it) plus 1 GiB for
 * QEMU's own pinned buffers and IOMMU tables, the margin libvirt also adds. */
export function memlockNeededBytes(guestRamBytes: number): number {
  return guestRamBytes + GIB;
}

const atLeast = (limit: RlimitValue, bytes: number): boolean => limit === 'unlimited' || limit >= bytes;

export function formatBytes(bytes: RlimitValue | null): string {
  if (bytes === null) return 'unknown';
  if (bytes === 'unlimited') return 'unlimited';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    u++;
  }
  if (n >= 1024 && u < units.length - 1) return `${(n / 1024).toFixed(1)} ${units[u + 1]}`;
  return `${n} ${units[u]}`;
}

/** The fix when the hard limit is below `neededBytes`: the limits.conf lines (KiB, as pam_limits
 * reads them) for login sessions, and LimitMEMLOCK= (bytes) for a systemd unit. */
export function memlockFixText(user: string, neededBytes: number): string {
  const kib = Math.ceil(neededBytes / KIB);
  return [
    `add to /etc/security/limits.conf (login sessions; takes effect after logging out and in):`,
    `    ${user} hard memlock ${kib}`,
    `    ${user} soft memlock ${kib}`,
    `or, when vmdesk runs from a systemd unit (service or user manager): LimitMEMLOCK=${neededBytes}`,
  ].join('\n');
}

export type MemlockRaise =
  | {
      ok: true;
      limit: Rlimit;
      /** True when this call changed the soft limit. */
      raised: boolean;
    }
  | { ok: false; reason: string; fix: string; limit?: Rlimit };

/**
 * Makes sure a QEMU spawned after this call may lock `memlockNeededBytes(guestRamBytes)`: raises
 * this process's soft limit to the hard limit (children inherit it; an unprivileged process may do
 * this, never exceed the hard limit). MUST be called before the spawn. Fails with the limits.conf
 * / LimitMEMLOCK fix when the hard limit is too low or cannot be read or changed.
 */
export function ensureMemlockFor(native: NativeHost, guestRamBytes: number, user: string): MemlockRaise {
  const needed = memlockNeededBytes(guestRamBytes);
  const fix = memlockFixText(user, needed);
  const current = native.getMemlockLimit();
  if (!current.ok) return { ok: false, reason: `cannot read the memlock limit: ${current.reason}`, fix };
  const { soft, hard } = current.value;
  if (atLeast(soft, needed)) return { ok: true, limit: current.value, raised: false };
  if (!atLeast(hard, needed)) {
    return {
      ok: false,
      reason: `the hard memlock limit (${formatBytes(hard)}) is below the ${formatBytes(needed)} this VM needs (guest RAM ${formatBytes(guestRamBytes)} + 1 GiB)`,
      fix,
      limit: current.value,
    };
  }
  const set = native.setMemlockLimit({ soft: hard, hard });
  if (!set.ok)
    return {
      ok: false,
      reason: `cannot raise the soft memlock limit to ${formatBytes(hard)}: ${set.reason}`,
      fix,
      limit: current.value,
    };
  return { ok: true, limit: set.value, raised: true };
}
