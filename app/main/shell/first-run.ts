/**
 * The AppImage's first-run notice. The deb and rpm depend on QEMU, qemu-img, UEFI firmware and
 * swtpm (build/linux/dependencies.cjs); an AppImage installs nothing, so on its first start, and
 * on every start while something required is missing, vmdesk says which system packages to
 * install and the exact command for this distribution. What is missing comes from the host
 * report (the same facts `vmdesk host` prints); the package names are the ones the deb and rpm
 * depend on (builder-config.test.ts keeps the two lists equal).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Arch, HostReport } from '../common/host-types.js';
import { osReleaseIds } from '../host/install-hints.js';

/** Package families with an install command vmdesk can name. */
export type Distro = 'debian' | 'fedora' | 'opensuse' | 'arch' | 'unknown';
export type KnownDistro = Exclude<Distro, 'unknown'>;

export type Component = 'qemu' | 'qemu-img' | 'firmware' | 'swtpm' | 'virtiofsd';

export interface MissingComponent {
  component: Component;
  /** What it is for, in a few words. */
  what: string;
  /** Required: VMs cannot start without it. Otherwise only some VMs need it (a TPM, a shared folder). */
  required: boolean;
  /** The packages that provide it, per distribution. */
  packages: Record<KnownDistro, string[]>;
  /**
   * Where its package does not exist on every release of a family, what to say instead: it stays
   * out of the command to copy (apt refuses a whole command over one unknown package).
   */
  caveat?: Partial<Record<KnownDistro, string>>;
}

export interface FirstRunNotice {
  distro: Distro;
  /** Something required is missing (vmdesk cannot start VMs until it is installed). */
  blocking: boolean;
  missing: MissingComponent[];
  /** The command that installs every missing package; undefined for an unknown distribution. */
  command: string | undefined;
  title: string;
  /** Plain sentences for a dialog: what is missing, then the command (or the names per family). */
  message: string;
}

/** In the config dir: written once the notice has been shown. */
export const FIRST_RUN_MARKER = 'appimage-first-run';

const QEMU: Record<Arch, Record<KnownDistro, string[]>> = {
  x86_64: {
    debian: ['qemu-system-x86'],
    fedora: ['qemu-system-x86-core'],
    opensuse: ['qemu-x86'],
    arch: ['qemu-system-x86'],
  },
  aarch64: {
    debian: ['qemu-system-arm'],
    fedora: ['qemu-system-aarch64-core'],
    opensuse: ['qemu-arm'],
    arch: ['qemu-system-aarch64'],
  },
};
const FIRMWARE: Record<Arch, Record<KnownDistro, string[]>> = {
  x86_64: { debian: ['ovmf'], fedora: ['edk2-ovmf'], opensuse: ['qemu-ovmf-x86_64'], arch: ['edk2-ovmf'] },
  aarch64: {
    debian: ['qemu-efi-aarch64'],
    fedora: ['edk2-aarch64'],
    opensuse: ['qemu-uefi-aarch64'],
    arch: ['edk2-aarch64'],
  },
};
const QEMU_IMG: Record<KnownDistro, string[]> = {
  debian: ['qemu-utils'],
  fedora: ['qemu-img'],
  opensuse: ['qemu-tools'],
  arch: ['qemu-img'],
};
const SWTPM: Record<KnownDistro, string[]> = {
  debian: ['swtpm'],
  fedora: ['swtpm'],
  opensuse: ['swtpm'],
  arch: ['swtpm'],
};
const VIRTIOFSD: Record<KnownDistro, string[]> = {
  debian: ['virtiofsd'],
  fedora: ['virtiofsd'],
  opensuse: ['virtiofsd'],
  arch: ['virtiofsd'],
};

/** The packages of every component, for the test that compares them with the deb and rpm. */
export const COMPONENT_PACKAGES = { QEMU, FIRMWARE, QEMU_IMG, SWTPM, VIRTIOFSD } as const;

const INSTALL: Record<KnownDistro, string> = {
  debian: 'sudo apt install',
  fedora: 'sudo dnf install',
  opensuse: 'sudo zypper install',
  arch: 'sudo pacman -S --needed',
};
const FAMILY_NAME: Record<KnownDistro, string> = {
  debian: 'Debian/Ubuntu',
  fedora: 'Fedora/RHEL',
  opensuse: 'openSUSE',
  arch: 'Arch',
};

/** The distribution family from the text of os-release(5): ID first, then each ID_LIKE entry
 * (Ubuntu: ID_LIKE=debian; Rocky: ID_LIKE="rhel centos fedora"; Manjaro: ID_LIKE=arch). */
export function distroFromOsRelease(text: string | undefined): Distro {
  for (const id of osReleaseIds(text ?? '')) {
    if (id === 'debian' || id === 'ubuntu') return 'debian';
    if (id === 'fedora' || id === 'rhel' || id === 'centos') return 'fedora';
    if (id === 'suse' || id === 'sles' || id.startsWith('opensuse')) return 'opensuse';
    if (id === 'arch' || id === 'archlinux') return 'arch';
  }
  return 'unknown';
}

/** The facts of the host report that decide what a Linux user has to install. */
export type FirstRunFacts = Pick<HostReport, 'hostArch' | 'qemu' | 'qemuImg' | 'firmware' | 'swtpm' | 'virtiofsd'>;

/** What the host lacks, required things first. Only "not installed" counts: a binary that is
 * there but broken is not fixed by installing a package, and the host report says why. */
export function missingComponents(facts: FirstRunFacts): MissingComponent[] {
  const out: MissingComponent[] = [];
  const arch = facts.hostArch === 'x86_64' || facts.hostArch === 'aarch64' ? facts.hostArch : undefined;
  if (arch && facts.qemu[arch].status === 'missing')
    out.push({ component: 'qemu', what: `QEMU for ${arch} guests`, required: true, packages: QEMU[arch] });
  if (facts.qemuImg.status === 'missing')
    out.push({ component: 'qemu-img', what: 'qemu-img (disk images)', required: true, packages: QEMU_IMG });
  if (arch && facts.firmware.missing.some((m) => m.arch === arch))
    out.push({
      component: 'firmware',
      what: `UEFI firmware for ${arch} guests`,
      required: true,
      packages: FIRMWARE[arch],
    });
  if (facts.swtpm.path === null)
    out.push({ component: 'swtpm', what: 'swtpm (a TPM for Windows 11 guests)', required: false, packages: SWTPM });
  if (facts.virtiofsd.path === null)
    out.push({
      component: 'virtiofsd',
      what: 'virtiofsd (fast shared folders)',
      required: false,
      packages: VIRTIOFSD,
      caveat: {
        debian:
          'virtiofsd is a package of its own from Debian 13 and Ubuntu 24.04 on (sudo apt install virtiofsd); on Debian 12 and Ubuntu 22.04 it comes with QEMU (qemu-system-common).',
      },
    });
  return out;
}

export interface FirstRunInput {
  facts: FirstRunFacts;
  /** The environment: the AppImage runtime sets APPIMAGE to the image's path. */
  env: Readonly<Record<string, string | undefined>>;
  platform: string;
  /** The text of /etc/os-release (or /usr/lib/os-release); undefined when neither is readable. */
  osRelease: string | undefined;
  /** The marker (FIRST_RUN_MARKER in the config dir) exists: the notice was shown before. */
  shownBefore: boolean;
}

/**
 * The notice to show at start, or undefined: only in an AppImage on Linux, and only the first
 * time, or whenever something required is missing. Pure: the caller reads os-release and the
 * marker, shows the notice, then writes the marker (markFirstRunShown); a blocking notice shows
 * at every start whatever the marker says.
 */
export function firstRunNotice(input: FirstRunInput): FirstRunNotice | undefined {
  if (!runsAsAppImage(input.env, input.platform)) return undefined;
  const missing = missingComponents(input.facts);
  const blocking = missing.some((m) => m.required);
  if (input.shownBefore && !blocking) return undefined;
  const distro = distroFromOsRelease(input.osRelease);
  const packagesOf = (d: KnownDistro) => [
    ...new Set(missing.filter((m) => !m.caveat?.[d]).flatMap((m) => m.packages[d])),
  ];
  const caveats = (d: KnownDistro) => missing.flatMap((m) => m.caveat?.[d] ?? []);
  const toCopy = distro === 'unknown' ? [] : packagesOf(distro);
  const command = toCopy.length > 0 ? `${INSTALL[distro as KnownDistro]} ${toCopy.join(' ')}` : undefined;

  const list = (required: boolean) =>
    missing
      .filter((m) => m.required === required)
      .map((m) => m.what)
      .join(', ');
  const lines: string[] = [];
  if (missing.length === 0) {
    lines.push(
      'vmdesk runs your VMs with the QEMU, firmware, swtpm and virtiofsd installed on this computer, and all of them are here.',
    );
  } else {
    if (blocking) lines.push(`vmdesk cannot start VMs until these system packages are installed: ${list(true)}.`);
    if (missing.some((m) => !m.required))
      lines.push(`${blocking ? 'Also missing' : 'Missing'}, needed only by some VMs: ${list(false)}.`);
    if (command) lines.push(`Install ${toCopy.length === 1 ? 'it' : 'them'} with:\n\n${command}`);
    if (distro !== 'unknown') lines.push(...caveats(distro));
    else
      lines.push(
        `Install them with your package manager:\n\n${(Object.keys(INSTALL) as KnownDistro[])
          .map((d) => `${FAMILY_NAME[d]}: ${[INSTALL[d], ...packagesOf(d)].join(' ')}`)
          .join('\n')}`,
        ...(Object.keys(INSTALL) as KnownDistro[]).flatMap(caveats),
      );
    lines.push('Then restart vmdesk.');
  }
  return {
    distro,
    blocking,
    missing,
    command,
    title: blocking ? 'vmdesk needs some system packages' : 'Welcome to vmdesk',
    message: lines.join('\n\n'),
  };
}

/** Running from an AppImage (its runtime sets APPIMAGE), the one package that brings no QEMU with it. */
export function runsAsAppImage(env: Readonly<Record<string, string | undefined>>, platform: string): boolean {
  return platform === 'linux' && !!env.APPIMAGE;
}

export function firstRunMarkerPath(configDir: string): string {
  return path.join(configDir, FIRST_RUN_MARKER);
}

export function firstRunShownBefore(configDir: string): boolean {
  return fs.existsSync(firstRunMarkerPath(configDir));
}

/** Remembers that the notice was shown; a failure only means it shows again next time. */
export function markFirstRunShown(configDir: string): void {
  try {
    fs.mkdirSync(configDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(firstRunMarkerPath(configDir), `${new Date().toISOString()}\n`, { mode: 0o600 });
  } catch {
    // the notice shows again at the next start: harmless
  }
}

/** The first readable os-release(5). */
export function readOsRelease(read: (p: string) => string = (p) => fs.readFileSync(p, 'utf8')): string | undefined {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return read(p);
    } catch {
      // os-release(5): the second location is the fallback
    }
  }
  return undefined;
}
