/**
 * osinfo-db (libosinfo's database, /usr/share/osinfo) read into a flat table: per OS its name,
 * family, resources, firmware needs, virtio support and the ISO media patterns that identify it.
 * Inheritance (derives-from, clones) is resolved here, as libosinfo does for devices and
 * resources, so every record stands alone. The same records make the committed compact table
 * (scripts/gen-osinfo-table.mjs), so both sources recognise the same way.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { childText, kids, parseXml, XmlError, type XmlElement } from './xml-lite.js';

export interface OsinfoMedia {
  /** osinfo arch name: "x86_64", "i686", "aarch64", "all"... */
  arch: string;
  /** Regular expressions (GLib/PCRE syntax, unanchored) for the ISO's descriptor fields. */
  volumeId?: string;
  systemId?: string;
  publisherId?: string;
  applicationId?: string;
  /** Exact volume size in bytes, when the media entry pins it. */
  volumeSize?: number;
}

/** Bytes of RAM and storage, and CPUs. */
export interface OsinfoResources {
  ram?: number;
  storage?: number;
  cpus?: number;
}

export interface OsinfoOs {
  id: string;
  shortId: string;
  name: string;
  version: string;
  /** osinfo's family: "linux", "winnt", "freebsd"... */
  family: string;
  distro: string;
  vendor: string;
  /** "YYYY-MM-DD" or "". */
  releaseDate: string;
  /** Keyed by osinfo arch or "all". */
  resources: Record<string, { minimum?: OsinfoResources; recommended?: OsinfoResources }>;
  /** Arches on which the OS does not support BIOS firmware (needs UEFI). */
  efiOnly: string[];
  /** Has in-box virtio block drivers (virtio-blk 1af4:1001 or 1af4:1042). */
  virtio: boolean;
  media: OsinfoMedia[];
}

export interface OsinfoDb {
  source: 'osinfo-db' | 'table';
  /** The osinfo-db release, e.g. "20221203". */
  version: string;
  oses: OsinfoOs[];
}

const MAX_FILES = 5000;
const MAX_FILE_BYTES = 2 * 2 ** 20;
/** Release chains are linear and long (Fedora 37 → 36 → … → 10); a cycle or a deeper chain stops here. */
const MAX_INHERIT_DEPTH = 100;
const VIRTIO_BLOCK = ['http://pcisig.com/pci/1af4/1001', 'http://pcisig.com/pci/1af4/1042'];

/** One OS element before inheritance: what it says itself, plus its parents' ids. */
interface RawOs extends OsinfoOs {
  parents: string[];
  devices: string[] | null;
  hasFirmware: boolean;
}

function num(s: string | undefined): number | undefined {
  const n = s === undefined ? NaN : Number(s);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function resourcesOf(el: XmlElement | undefined): OsinfoResources | undefined {
  if (!el) return undefined;
  const r: OsinfoResources = {};
  const ram = num(childText(el, 'ram'));
  const storage = num(childText(el, 'storage'));
  const cpus = num(childText(el, 'n-cpus'));
  if (ram) r.ram = ram;
  if (storage) r.storage = storage;
  if (cpus) r.cpus = cpus;
  return Object.keys(r).length > 0 ? r : undefined;
}

function mediaOf(el: XmlElement): OsinfoMedia | undefined {
  const iso = kids(el, 'iso')[0];
  if (!iso) return undefined;
  const m: OsinfoMedia = { arch: el.attrs.arch ?? 'all' };
  const fields = [
    ['volume-id', 'volumeId'],
    ['system-id', 'systemId'],
    ['publisher-id', 'publisherId'],
    ['application-id', 'applicationId'],
  ] as const;
  for (const [tag, key] of fields) {
    const v = childText(iso, tag);
    if (v) m[key] = v;
  }
  const size = num(childText(iso, 'volume-size'));
  if (size) m.volumeSize = size;
  return m.volumeId || m.systemId || m.publisherId || m.applicationId ? m : undefined;
}

function osOf(el: XmlElement): RawOs | undefined {
  const id = el.attrs.id;
  if (!id) return undefined;
  const resources: OsinfoOs['resources'] = {};
  for (const r of kids(el, 'resources')) {
    const arch = r.attrs.arch ?? 'all';
    const minimum = resourcesOf(kids(r, 'minimum')[0]);
    const recommended = resourcesOf(kids(r, 'recommended')[0]);
    resources[arch] = { ...(minimum ? { minimum } : {}), ...(recommended ? { recommended } : {}) };
  }
  const firmware = kids(el, 'firmware');
  const devicesEl = kids(el, 'devices')[0];
  return {
    id,
    shortId: childText(el, 'short-id') ?? '',
    name: childText(el, 'name') ?? id,
    version: childText(el, 'version') ?? '',
    family: childText(el, 'family') ?? '',
    distro: childText(el, 'distro') ?? '',
    vendor: childText(el, 'vendor') ?? '',
    releaseDate: childText(el, 'release-date') ?? '',
    resources,
    efiOnly: firmware
      .filter((f) => f.attrs.type === 'bios' && f.attrs.supported === 'false')
      .map((f) => f.attrs.arch ?? 'all'),
    virtio: false,
    media: kids(el, 'media')
      .map(mediaOf)
      .filter((m): m is OsinfoMedia => !!m),
    parents: [...kids(el, 'derives-from'), ...kids(el, 'clones')]
      .map((p) => p.attrs.id)
      .filter((p): p is string => !!p),
    devices: devicesEl
      ? kids(devicesEl, 'device')
          .filter((d) => d.attrs.supported !== 'false')
          .map((d) => d.attrs.id ?? '')
      : null,
    hasFirmware: firmware.length > 0,
  };
}

/** Fills what an OS does not state itself from its ancestors (nearest first), then drops the helper fields. */
function resolve(raw: Map<string, RawOs>): OsinfoOs[] {
  const out: OsinfoOs[] = [];
  for (const os of raw.values()) {
    const chain: RawOs[] = [os];
    const seen = new Set([os.id]);
    for (let i = 0; i < chain.length && chain.length < MAX_INHERIT_DEPTH; i++) {
      for (const pid of chain[i]!.parents) {
        const p = raw.get(pid);
        if (p && !seen.has(pid)) {
          seen.add(pid);
          chain.push(p);
        }
      }
    }
    const devices = new Set(chain.flatMap((c) => c.devices ?? []));
    const { parents: _p, devices: _d, hasFirmware: _h, ...rest } = os;
    out.push({
      ...rest,
      resources: chain.find((c) => Object.keys(c.resources).length > 0)?.resources ?? {},
      efiOnly: chain.find((c) => c.hasFirmware)?.efiOnly ?? [],
      virtio: VIRTIO_BLOCK.some((d) => devices.has(d)),
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export interface OsinfoReadResult {
  db: OsinfoDb;
  /** Files that could not be read or parsed (skipped). */
  problems: string[];
}

/**
 * Translated names and vendors are most of every file (about 25 000 of 60 000 elements) and never
 * read: dropping these leaf elements with one native regex pass halves the parse time.
 */
const TRANSLATIONS = /<(name|vendor) xml:lang="[^"<>]*">[^<]*<\/\1>/g;

function collect(files: { file: string; text: string }[], version: string): OsinfoReadResult {
  const raw = new Map<string, RawOs>();
  const problems: string[] = [];
  for (const { file, text } of files) {
    try {
      const root = parseXml(text.replace(TRANSLATIONS, ''));
      for (const el of kids(root, 'os')) {
        const os = osOf(el);
        if (os && !raw.has(os.id)) raw.set(os.id, os);
      }
    } catch (err) {
      if (!(err instanceof XmlError)) throw err;
      problems.push(`${file}: ${err.message}`);
    }
  }
  return { db: { source: 'osinfo-db', version, oses: resolve(raw) }, problems };
}

/** os/<vendor>/<name>.xml; the <name>.d/ folders hold only driver lists and are skipped. */
function osFiles(dir: string): string[] {
  const osDir = path.join(dir, 'os');
  const files: string[] = [];
  for (const vendor of fs.readdirSync(osDir, { withFileTypes: true })) {
    if (!vendor.isDirectory()) continue;
    for (const f of fs.readdirSync(path.join(osDir, vendor.name), { withFileTypes: true })) {
      if (f.isFile() && f.name.endsWith('.xml') && files.length < MAX_FILES)
        files.push(path.join(osDir, vendor.name, f.name));
    }
  }
  return files.sort();
}

export function osinfoVersion(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, 'VERSION'), 'utf8').trim().slice(0, 32);
  } catch {
    return 'unknown';
  }
}

/** True when `dir` looks like an osinfo-db installation (has an os/ folder). */
export function hasOsinfoDir(dir: string): boolean {
  try {
    return fs.statSync(path.join(dir, 'os')).isDirectory();
  } catch {
    return false;
  }
}

export function readOsinfoDirSync(dir: string): OsinfoReadResult {
  const files = osFiles(dir).flatMap((file) => {
    if (fs.statSync(file).size > MAX_FILE_BYTES) return [];
    return [{ file, text: fs.readFileSync(file, 'utf8') }];
  });
  return collect(files, osinfoVersion(dir));
}

export async function readOsinfoDir(dir: string): Promise<OsinfoReadResult> {
  const files = await Promise.all(
    osFiles(dir).map(async (file) => {
      const st = await fsp.stat(file);
      return st.size > MAX_FILE_BYTES ? undefined : { file, text: await fsp.readFile(file, 'utf8') };
    }),
  );
  return collect(
    files.filter((f): f is { file: string; text: string } => !!f),
    osinfoVersion(dir),
  );
}
