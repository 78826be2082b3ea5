/**
 * What osinfo data cannot say: releases newer than the data (read from the volume id's naming
 * scheme, which distributions keep from release to release), and the Windows release named by
 * the install image's build number.
 */
import type { WindowsMedia } from '../common/iso-types.js';

export interface ReleaseGuess {
  /** osinfo's distro name, to borrow requirements from its newest known release. */
  distro: string;
  /** The id newer osinfo-db releases use for it, e.g. "http://ubuntu.com/ubuntu/24.04". */
  id: string;
  name: string;
  version: string;
  /** osinfo arch named in the volume id, when it names one. */
  arch?: string;
}

interface Scheme {
  re: RegExp;
  distro: string;
  idBase: string;
  name: (version: string, m: RegExpMatchArray) => string;
  version?: (m: RegExpMatchArray) => string;
}

const ARCH_WORDS: Record<string, string> = {
  amd64: 'x86_64',
  x86_64: 'x86_64',
  x64: 'x86_64',
  arm64: 'aarch64',
  aarch64: 'aarch64',
  i386: 'i686',
  i686: 'i686',
};

const SCHEMES: Scheme[] = [
  // "Ubuntu 24.04.1 LTS amd64", "Ubuntu-Server 24.04 LTS arm64"
  {
    re: /^Ubuntu(?:-Server)? (\d{2}\.\d{2})(?:\.\d+)?( LTS)?/,
    distro: 'ubuntu',
    idBase: 'http://ubuntu.com/ubuntu/',
    name: (v, m) => `Ubuntu ${v}${m[2] ?? ''}`,
  },
  // "Debian 12.7.0 amd64 n", "Debian 12.7.0 amd64 1"
  { re: /^Debian (\d+)(?:\.\d+)* /, distro: 'debian', idBase: 'http://debian.org/debian/', name: (v) => `Debian ${v}` },
  // "Fedora-WS-Live-41-1-4", "Fedora-S-dvd-x86_64-41"
  {
    re: /^Fedora-.*?-(\d{2,3})(?=-|$)/,
    distro: 'fedora',
    idBase: 'http://fedoraproject.org/fedora/',
    name: (v) => `Fedora ${v}`,
  },
  {
    re: /^openSUSE-Leap-(\d+\.\d+)/,
    distro: 'opensuse',
    idBase: 'http://opensuse.org/opensuse/',
    name: (v) => `openSUSE Leap ${v}`,
  },
  {
    re: /^AlmaLinux-(\d+)/,
    distro: 'almalinux',
    idBase: 'http://almalinux.org/almalinux/',
    name: (v) => `AlmaLinux ${v}`,
  },
  { re: /^Rocky-(\d+)/, distro: 'rocky', idBase: 'http://rockylinux.org/rocky/', name: (v) => `Rocky Linux ${v}` },
  {
    re: /^RHEL-(\d+)(?:[-.](\d+))?/,
    distro: 'rhel',
    idBase: 'http://redhat.com/rhel/',
    name: (v) => `Red Hat Enterprise Linux ${v}`,
    version: (m) => (m[2] ? `${m[1]}.${m[2]}` : m[1]!),
  },
  // "14_1_RELEASE_AMD64_CD"
  {
    re: /^(\d+)_(\d+)_RELEASE_/,
    distro: 'freebsd',
    idBase: 'http://freebsd.org/freebsd/',
    name: (v) => `FreeBSD ${v}`,
    version: (m) => `${m[1]}.${m[2]}`,
  },
];

export function guessRelease(volumeId: string): ReleaseGuess | undefined {
  for (const s of SCHEMES) {
    const m = volumeId.match(s.re);
    if (!m) continue;
    const version = s.version ? s.version(m) : m[1]!;
    const archWord = volumeId
      .toLowerCase()
      .split(/[\s_-]+/)
      .find((w) => ARCH_WORDS[w]);
    const guess: ReleaseGuess = { distro: s.distro, id: s.idBase + version, name: s.name(version, m), version };
    if (archWord) guess.arch = ARCH_WORDS[archWord];
    return guess;
  }
  return undefined;
}

/** The osinfo id of the Windows release an install image's build belongs to; null when unknown. */
export function windowsOsId(w: WindowsMedia | null): string | null {
  const b = w?.build;
  if (!w || !b) return null;
  const win = (v: string) => `http://microsoft.com/win/${v}`;
  if (w.installationType?.toLowerCase().startsWith('server')) {
    if (b >= 26100) return win('2k25');
    if (b >= 20348) return win('2k22');
    if (b >= 17763) return win('2k19');
    if (b >= 14393) return win('2k16');
    if (b >= 9600) return win('2k12r2');
    if (b >= 9200) return win('2k12');
    if (b >= 7600) return win('2k8r2');
    return null;
  }
  if (b >= 22000) return win('11');
  if (b >= 10240) return win('10');
  if (b >= 9600) return win('8.1');
  if (b >= 9200) return win('8');
  if (b >= 7600) return win('7');
  return null;
}
