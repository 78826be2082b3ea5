/**
 * Which OS data recognition uses: the installed osinfo-db (read lazily, once, and kept in
 * memory) when it is at least as new as the committed compact table, else the table. Set
 * OSINFO_SYSTEM_DIR (libosinfo's own variable) to read another osinfo-db tree.
 */
import tableJson from './osinfo-table.json' with { type: 'json' };
import {
  hasOsinfoDir,
  osinfoVersion,
  readOsinfoDir,
  readOsinfoDirSync,
  type OsinfoDb,
  type OsinfoOs,
} from './osinfo-db.js';

export const DEFAULT_OSINFO_DIR = '/usr/share/osinfo';

interface TableFile {
  version: string;
  oses: Partial<OsinfoOs>[];
}

let table: OsinfoDb | undefined;
let cached: { dir: string; db: OsinfoDb } | undefined;

/**
 * The committed table (generated from osinfo-db by scripts/gen-osinfo-table.mjs), with its dropped empty fields
 * restored.
 */
export function osinfoTable(): OsinfoDb {
  table ??= {
    source: 'table',
    version: (tableJson as TableFile).version,
    oses: (tableJson as TableFile).oses.map((o) => ({
      id: o.id ?? '',
      shortId: o.shortId ?? '',
      name: o.name ?? '',
      version: o.version ?? '',
      family: o.family ?? '',
      distro: o.distro ?? '',
      vendor: o.vendor ?? '',
      releaseDate: o.releaseDate ?? '',
      resources: o.resources ?? {},
      efiOnly: o.efiOnly ?? [],
      virtio: o.virtio ?? false,
      media: o.media ?? [],
    })),
  };
  return table;
}

function osinfoDir(): string {
  return process.env.OSINFO_SYSTEM_DIR || DEFAULT_OSINFO_DIR;
}

/** Use the installed database unless the table comes from a newer osinfo-db release. */
function installedIsUsable(dir: string): boolean {
  if (!hasOsinfoDir(dir)) return false;
  const v = osinfoVersion(dir);
  return !/^\d{8}$/.test(v) || v >= osinfoTable().version;
}

/**
 * The OS data, read on first use and cached. Synchronous (reading osinfo-db takes a fraction of
 * a second once); call `loadOsinfoDb()` early to do that work off the critical path.
 */
export function defaultOsinfoDb(): OsinfoDb {
  const dir = osinfoDir();
  if (cached?.dir === dir) return cached.db;
  const db = installedIsUsable(dir) ? readOsinfoDirSync(dir).db : osinfoTable();
  cached = { dir, db };
  return db;
}

/** Like defaultOsinfoDb, reading the files asynchronously. */
export async function loadOsinfoDb(): Promise<OsinfoDb> {
  const dir = osinfoDir();
  if (cached?.dir === dir) return cached.db;
  const db = installedIsUsable(dir) ? (await readOsinfoDir(dir)).db : osinfoTable();
  cached = { dir, db };
  return db;
}

/** Forget the cached database (tests; after installing osinfo-db). */
export function resetOsinfoCache(): void {
  cached = undefined;
}
