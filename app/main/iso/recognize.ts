/**
 * `recognizeOs(info)`: which OS an installer ISO holds, matched like libosinfo does (the media
 * entries' volume/system/publisher/application id patterns), plus what osinfo cannot see: the
 * Windows install image's build (Windows 10 and 11 share volume ids) and releases newer than the
 * osinfo data ("Ubuntu 24.04" when it knows up to 22.10). Everything else gets generic defaults.
 */
import type { Arch } from '../common/host-types.js';
import type { IsoInfo, OsFamily, OsMatch, OsResources } from '../common/iso-types.js';
import type { OsinfoDb, OsinfoMedia, OsinfoOs, OsinfoResources } from './osinfo-db.js';
import { defaultOsinfoDb } from './osinfo-source.js';
import { guessRelease, windowsOsId, type ReleaseGuess } from './release-guess.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
export const GENERIC_RECOMMENDED: OsResources = { memoryMiB: 2048, diskGiB: 20, cpus: 2 };
export const GENERIC_MINIMUM: OsResources = { memoryMiB: 512, diskGiB: 8, cpus: 1 };
/** Caps on what osinfo data may suggest (its <maximum> entries are ignored anyway). */
const CAP: OsResources = { memoryMiB: 64 * 1024, diskGiB: 2048, cpus: 16 };

const regexCache = new WeakMap<OsinfoDb, Map<string, RegExp | null>>();

function pattern(db: OsinfoDb, source: string, ignoreCase: boolean): RegExp | null {
  let cache = regexCache.get(db);
  if (!cache) regexCache.set(db, (cache = new Map()));
  const key = (ignoreCase ? 'i:' : 's:') + source;
  let re = cache.get(key);
  if (re === undefined) {
    try {
      re = new RegExp(source, ignoreCase ? 'i' : '');
    } catch {
      re = null; // a PCRE construct JavaScript lacks: this media entry cannot match
    }
    cache.set(key, re);
  }
  return re;
}

/** The osinfo arch names an image can be for, from its boot files. */
function imageArches(info: IsoInfo): Set<string> {
  const s = new Set<string>(info.efiArchs);
  if (info.efiBootFiles.some((f) => f.endsWith('BOOTIA32.EFI')) || info.windows?.arch === 'x86') s.add('i686');
  if (info.windows?.arch === 'x86_64' || info.windows?.arch === 'aarch64') s.add(info.windows.arch);
  if (info.bootable.bios && s.size === 0) ['x86_64', 'i686'].forEach((a) => s.add(a));
  return s;
}

interface Candidate {
  os: OsinfoOs;
  media: OsinfoMedia;
  score: number;
}

/** How well one media entry fits; undefined when any of its patterns does not match. */
function scoreMedia(
  db: OsinfoDb,
  info: IsoInfo,
  os: OsinfoOs,
  m: OsinfoMedia,
  arches: Set<string>,
  windowsId: string | null,
): number | undefined {
  // Volume ids match with case, like libosinfo. The other fields are ISO 9660 "a-characters",
  // upper case only, which some mastering tools enforce (xorriso writes "SUSE LINUX GMBH" where
  // osinfo expects "SUSE LINUX GmbH"), so they match without case.
  const fields: [string | undefined, string, boolean][] = [
    [m.volumeId, info.volumeId, false],
    [m.systemId, info.systemId, true],
    [m.publisherId, info.publisher, true],
    [m.applicationId, info.applicationId, true],
  ];
  let score = 0;
  for (const [re, value, ignoreCase] of fields) {
    if (re === undefined) continue;
    const r = pattern(db, re, ignoreCase);
    if (!r || !r.test(value)) return undefined;
    score += 10 + Math.min(re.length, 60) / 100; // a longer pattern is a more specific one
  }
  if (m.volumeSize !== undefined) {
    if (m.volumeSize !== info.volumeSizeBytes) return undefined;
    score += 10;
  }
  if (arches.size > 0 && m.arch !== 'all') score += arches.has(m.arch) ? 5 : -8;
  if (os.version === 'unknown') score -= 1;
  // The install image's build is better evidence than a volume id shared by several releases.
  if (windowsId && os.distro === 'win') score += os.id === windowsId ? 30 : -30;
  return score;
}

function bestCandidate(db: OsinfoDb, info: IsoInfo, windowsId: string | null): Candidate | undefined {
  const arches = imageArches(info);
  let best: Candidate | undefined;
  for (const os of db.oses) {
    for (const media of os.media) {
      const score = scoreMedia(db, info, os, media, arches, windowsId);
      if (score === undefined) continue;
      // Ties go to the newer release: Windows 11 settings also install Windows 10, not the reverse.
      if (!best || score > best.score || (score === best.score && os.releaseDate > best.os.releaseDate))
        best = { os, media, score };
    }
  }
  return best;
}

function familyOf(f: string): OsFamily {
  if (f === 'linux') return 'linux';
  if (/^(winnt|win9x|win16|msdos)$/.test(f)) return 'windows';
  if (/bsd$/.test(f)) return 'bsd';
  if (f === 'darwin' || f === 'solaris') return f;
  return 'other';
}

function osinfoArchToArch(a: string | undefined): Arch | null {
  if (a === 'aarch64') return 'aarch64';
  if (a === 'x86_64' || a === 'i686' || a === 'i386') return 'x86_64'; // 32-bit x86 guests run in qemu-system-x86_64
  return null;
}

function clampRes(r: OsResources): OsResources {
  return {
    memoryMiB: Math.min(r.memoryMiB, CAP.memoryMiB),
    diskGiB: Math.min(r.diskGiB, CAP.diskGiB),
    cpus: Math.min(r.cpus, CAP.cpus),
  };
}

/**
 * osinfo resources for `arch` (or "all") as minimum and recommended, filled with generic values and recommended ≥
 * minimum.
 */
function resourcesFor(
  os: OsinfoOs | undefined,
  osinfoArch: string,
): { minimum: OsResources; recommended: OsResources } {
  const set = os ? (os.resources[osinfoArch] ?? os.resources.all ?? {}) : {};
  const min: OsinfoResources = set.minimum ?? {};
  const rec: OsinfoResources = set.recommended ?? {};
  const minimum = clampRes({
    memoryMiB: min.ram ? Math.ceil(min.ram / MiB) : GENERIC_MINIMUM.memoryMiB,
    diskGiB: min.storage ? Math.ceil(min.storage / GiB) : GENERIC_MINIMUM.diskGiB,
    cpus: min.cpus ?? GENERIC_MINIMUM.cpus,
  });
  const recommended = clampRes({
    memoryMiB: Math.max(rec.ram ? Math.ceil(rec.ram / MiB) : GENERIC_RECOMMENDED.memoryMiB, minimum.memoryMiB),
    diskGiB: Math.max(rec.storage ? Math.ceil(rec.storage / GiB) : GENERIC_RECOMMENDED.diskGiB, minimum.diskGiB),
    cpus: Math.max(rec.cpus ?? GENERIC_RECOMMENDED.cpus, minimum.cpus),
  });
  return { minimum, recommended };
}

function firmwareFor(info: IsoInfo, arch: Arch | null, osNeedsUefi: boolean, notes: string[]): OsMatch['firmware'] {
  const { bios, uefi } = info.bootable;
  if (arch === 'aarch64') return 'uefi';
  if (uefi && !bios) return 'uefi';
  if (bios && !uefi) {
    if (osNeedsUefi) notes.push('This OS needs UEFI, but the disc boots only with BIOS.');
    return 'bios';
  }
  return osNeedsUefi ? 'uefi' : 'either';
}

/** A volume id made readable: "Fedora-WS-Live-41-1-4" stays, "BACKUP_2024" becomes "BACKUP 2024". */
export function humanVolumeId(info: IsoInfo): string {
  const base = info.volumeId || info.joliet?.volumeId || info.path.replace(/^.*\//, '').replace(/\.iso$/i, '');
  return base.replace(/_/g, ' ').replace(/\s+/g, ' ').trim();
}

function toMatch(
  info: IsoInfo,
  db: OsinfoDb,
  os: OsinfoOs | undefined,
  mediaArch: string | undefined,
  guess: ReleaseGuess | undefined,
  confidence: OsMatch['confidence'],
  notes: string[],
): OsMatch {
  // What the image itself shows (its install image, its only EFI loader) beats the media entry's
  // arch: osinfo lists Windows 11 media for x86_64 only, yet Windows on ARM media exist.
  const w = info.windows?.arch;
  const imageArch: Arch | null =
    w === 'x86_64' || w === 'aarch64' ? w : info.efiArchs.length === 1 ? info.efiArchs[0]! : null;
  const arch =
    imageArch ??
    osinfoArchToArch(mediaArch) ??
    (info.bootable.bios || info.efiArchs.includes('x86_64') ? 'x86_64' : null);
  const osinfoArch =
    imageArch === 'aarch64' ? 'aarch64' : mediaArch && mediaArch !== 'all' ? mediaArch : (arch ?? 'x86_64');
  const { minimum, recommended } = resourcesFor(os, osinfoArch);
  const winBuild = info.windows?.build ?? null;
  // Windows 11 and later client releases require a TPM 2.0 (server releases are "win/2k22").
  const tpm = !!os && /^http:\/\/microsoft\.com\/win\/(1[1-9]|[2-9]\d)$/.test(os.id);
  const needsUefi = !!os && (os.efiOnly.includes(osinfoArch) || os.efiOnly.includes('all'));
  const family = os ? familyOf(os.family) : info.windows ? 'windows' : 'other';
  const windowsOs = family === 'windows';
  if (windowsOs && winBuild !== null)
    notes.push(
      `The install image is build ${winBuild}${info.windows?.editions.length ? ` (${info.windows.editions.slice(0, 4).join(', ')})` : ''}.`,
    );
  const name =
    guess && (confidence === 'newer-release' || os?.version === 'unknown')
      ? guess.name
      : (os?.name ?? humanVolumeId(info));
  return {
    id: guess && confidence === 'newer-release' ? guess.id : (os?.id ?? ''),
    name,
    version:
      guess && (confidence === 'newer-release' || os?.version === 'unknown') ? guess.version : (os?.version ?? ''),
    family,
    distro: os?.distro ?? guess?.distro ?? '',
    vendor: os?.vendor ?? '',
    arch,
    recommended,
    minimum,
    firmware: firmwareFor(info, arch, needsUefi || tpm, notes),
    // Windows has no in-box virtio drivers; osinfo lists them only as installable extras.
    virtio: !!os && os.virtio && !windowsOs,
    tpm,
    source: os ? db.source : 'generic',
    confidence,
    notes,
  };
}

/**
 * Recognises the OS on an inspected image. `db` defaults to the installed osinfo-db or the
 * committed table (see osinfo-source.ts). Never throws: unknown images get generic defaults.
 */
export function recognizeOs(info: IsoInfo, db: OsinfoDb = defaultOsinfoDb()): OsMatch {
  const notes: string[] = [];
  const windowsId = windowsOsId(info.windows);
  const guess = guessRelease(info.volumeId);
  const best = bestCandidate(db, info, windowsId);
  if (best) {
    const { os, media } = best;
    if (os.id === 'http://microsoft.com/win/11' && !windowsId)
      notes.push(
        'Windows 10 and 11 media share volume ids and the install image could not be read: assuming Windows 11.',
      );
    return toMatch(
      info,
      db,
      os,
      media.arch,
      os.version === 'unknown' && guess?.distro === os.distro ? guess : undefined,
      'exact',
      notes,
    );
  }
  if (windowsId) {
    const os = db.oses.find((o) => o.id === windowsId);
    if (os)
      return toMatch(info, db, os, info.windows?.arch === 'aarch64' ? 'aarch64' : 'x86_64', undefined, 'exact', notes);
  }
  if (guess) {
    // A release the data knows under a volume id its patterns miss: use that release.
    const known = db.oses.find((o) => o.id === guess.id);
    if (known) {
      notes.push(`Recognised from the volume id's naming scheme, not from an osinfo media entry.`);
      return toMatch(info, db, known, guess.arch, undefined, 'exact', notes);
    }
    const newest = db.oses
      .filter((o) => o.distro === guess.distro && o.media.length > 0)
      .sort((a, b) => (a.releaseDate < b.releaseDate ? 1 : a.releaseDate > b.releaseDate ? -1 : 0))[0];
    if (newest) {
      notes.push(
        `osinfo-db ${db.version} does not list ${guess.name}; using the requirements of ${newest.name}, the newest release it knows.`,
      );
      return toMatch(info, db, newest, guess.arch, guess, 'newer-release', notes);
    }
  }
  notes.push('Not recognised: using generic settings.');
  return toMatch(info, db, undefined, undefined, undefined, 'none', notes);
}
