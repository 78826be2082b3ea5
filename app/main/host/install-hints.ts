import type { HostFs } from './host-io.js';
import type { Arch } from '../common/host-types.js';

/** Package families we can name exact packages for. Anything else gets all three spellings. */
export type OsFamily = 'debian' | 'fedora' | 'macos' | 'unknown';

/** The distribution ids in the text of os-release(5), most specific first: ID, then each ID_LIKE
 * entry (Ubuntu says ID_LIKE=debian, RHEL/CentOS/Rocky say ID_LIKE="rhel centos fedora"). */
export function osReleaseIds(text: string): string[] {
  const field = (name: string): string[] => {
    const m = new RegExp(`^${name}=(.*)$`, 'm').exec(text);
    return (m?.[1] ?? '')
      .trim()
      .replace(/^["']|["']$/g, '')
      .toLowerCase()
      .split(/\s+/)
      .filter(Boolean);
  };
  return [...field('ID'), ...field('ID_LIKE')];
}

/** Family from the text of /etc/os-release. */
export function parseOsRelease(text: string): OsFamily {
  for (const id of osReleaseIds(text)) {
    if (id === 'debian' || id === 'ubuntu') return 'debian';
    if (id === 'fedora' || id === 'rhel' || id === 'centos') return 'fedora';
  }
  return 'unknown';
}

export async function detectOsFamily(fs: HostFs, platform: string): Promise<OsFamily> {
  if (platform === 'darwin') return 'macos';
  if (platform !== 'linux') return 'unknown';
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(await fs.readText(p));
    } catch {
      // try the next one: os-release(5) names both locations
    }
  }
  return 'unknown';
}

type Hints = Record<Exclude<OsFamily, 'unknown'>, string>;

function pick(family: OsFamily, hints: Hints): string {
  if (family !== 'unknown') return hints[family];
  return `Debian/Ubuntu: ${hints.debian} · Fedora/RHEL: ${hints.fedora} · macOS: ${hints.macos}`;
}

const QEMU_SYSTEM: Record<Arch, Hints> = {
  x86_64: {
    debian: 'sudo apt install qemu-system-x86 qemu-utils',
    fedora: 'sudo dnf install qemu-kvm qemu-img',
    macos: 'brew install qemu',
  },
  aarch64: {
    debian: 'sudo apt install qemu-system-arm qemu-utils',
    fedora: 'sudo dnf install qemu-system-aarch64 qemu-img',
    macos: 'brew install qemu',
  },
};
const QEMU_IMG: Hints = {
  debian: 'sudo apt install qemu-utils',
  fedora: 'sudo dnf install qemu-img',
  macos: 'brew install qemu',
};
const FIRMWARE: Record<Arch, Hints> = {
  x86_64: {
    debian: 'sudo apt install ovmf',
    fedora: 'sudo dnf install edk2-ovmf',
    macos: 'brew install qemu (it ships edk2-x86_64-code.fd)',
  },
  aarch64: {
    debian: 'sudo apt install qemu-efi-aarch64',
    fedora: 'sudo dnf install edk2-aarch64',
    macos: 'brew install qemu (it ships edk2-aarch64-code.fd)',
  },
};

const SWTPM: Hints = {
  debian: 'sudo apt install swtpm swtpm-tools',
  fedora: 'sudo dnf install swtpm swtpm-tools',
  macos: 'brew install swtpm',
};

const VIRTIOFSD: Hints = {
  debian: 'sudo apt install virtiofsd (Debian 13, Ubuntu 24.04; Debian 12 has it in qemu-system-common)',
  fedora: 'sudo dnf install virtiofsd',
  macos: 'not available on macOS: shared folders use 9p',
};
export const virtiofsdInstallHint = (family: OsFamily): string => pick(family, VIRTIOFSD);

export const swtpmInstallHint = (family: OsFamily): string => pick(family, SWTPM);
export const qemuInstallHint = (family: OsFamily, arch: Arch): string => pick(family, QEMU_SYSTEM[arch]);
export const qemuImgInstallHint = (family: OsFamily): string => pick(family, QEMU_IMG);
export const firmwareInstallHint = (family: OsFamily, arch: Arch): string => pick(family, FIRMWARE[arch]);
