/**
 * What the ISO library dialog shows, as plain data: one row per stored image (size, OS, date,
 * who uses it, whether it may be deleted), where the images live, and a one-line summary.
 * Pure: no store, no api, no React.
 */
import type { IsoLibraryEntry } from '../../../main/common/contract.js';
import { formatBytes, formatDateTime } from '../vm-details/format.js';

export interface IsoRow {
  path: string;
  name: string;
  /** "628.9 MiB". */
  size: string;
  /** The recognised OS, or a sentence saying there is none. */
  os: string;
  recognised: boolean;
  /** "Stored 12 Jan 2025, 09:30". */
  stored: string;
  /** "Used by “a”, “b”" or "Not used". */
  usage: string;
  /** Only an image no VM uses may be deleted (the driver refuses the others too). */
  canDelete: boolean;
  /** For an image in use: what to do before it can be deleted. */
  hint: string | null;
}

/** Where vmdesk keeps the images when the list cannot tell (an empty library): the XDG rule… */
export const DEFAULT_LIBRARY_DIR = '$XDG_DATA_HOME/vmdesk/isos/';
/** …and what it comes to without XDG_DATA_HOME. */
export const USUAL_LIBRARY_DIR = '~/.local/share/vmdesk/isos/';

const quoted = (name: string) => `“${name}”`;

export function usageText(usedBy: IsoLibraryEntry['usedBy']): string {
  return usedBy.length === 0 ? 'Not used' : `Used by ${usedBy.map((u) => quoted(u.name)).join(', ')}`;
}

export function isoRow(e: IsoLibraryEntry): IsoRow {
  const used = e.usedBy.length > 0;
  return {
    path: e.path,
    name: e.name,
    size: formatBytes(e.sizeBytes),
    os: e.os ?? 'OS not recognised',
    recognised: e.os !== undefined,
    stored: `Stored ${formatDateTime(e.storedAt)}`,
    usage: usageText(e.usedBy),
    canDelete: !used,
    hint: !used
      ? null
      : e.usedBy.length === 1
        ? 'To delete it, eject it from that VM first.'
        : 'To delete it, eject it from those VMs first.',
  };
}

/** The folder the images are in (with a trailing slash), read from their paths; null when empty. */
export function libraryFolder(entries: readonly IsoLibraryEntry[]): string | null {
  const first = entries[0]?.path;
  if (!first) return null;
  const slash = first.lastIndexOf('/');
  return slash < 0 ? null : first.slice(0, slash + 1);
}

/** "3 images, 2.7 GiB · 1 not used (4 MiB)"; "Empty" for none. */
export function librarySummary(entries: readonly IsoLibraryEntry[]): string {
  if (entries.length === 0) return 'No images stored';
  const sum = (list: readonly IsoLibraryEntry[]) => formatBytes(list.reduce((n, e) => n + e.sizeBytes, 0));
  const unused = entries.filter((e) => e.usedBy.length === 0);
  const all = `${entries.length} ${entries.length === 1 ? 'image' : 'images'}, ${sum(entries)}`;
  if (unused.length === 0) return `${all} · all in use`;
  if (unused.length === entries.length) return `${all} · none in use`;
  return `${all} · ${unused.length} not used (${sum(unused)})`;
}

export interface IsoLibraryView {
  /** By name as people sort ("debian-12" before "Fedora", "win10" before "win11"). */
  rows: IsoRow[];
  /** The folder, read from the images' paths; null when there are none (say DEFAULT_LIBRARY_DIR). */
  folder: string | null;
  summary: string;
  empty: boolean;
}

const byName = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** `entries` null: not read yet. */
export function isoLibraryView(entries: readonly IsoLibraryEntry[] | null): IsoLibraryView {
  const list = entries ?? [];
  return {
    rows: list.map(isoRow).sort((a, b) => byName.compare(a.name, b.name)),
    folder: libraryFolder(list),
    summary: entries ? librarySummary(list) : 'Reading the library…',
    empty: entries !== null && entries.length === 0,
  };
}

/** The path of the image being confirmed, unless it has gone from the list (or may not be deleted). */
export function stillConfirmable(entries: readonly IsoLibraryEntry[] | null, path: string | null): string | null {
  if (!path || !entries) return null;
  const e = entries.find((x) => x.path === path);
  return e && e.usedBy.length === 0 ? path : null;
}
