/**
 * The ISO library (`$XDG_DATA_HOME/vmdesk/isos/`, or the isoFolder setting's folder, where
 * `vmdesk web` stores uploads): what is in
 * it, which OS each image installs, which VMs use it, and removing an image no VM uses.
 *
 * Invariants:
 * - Only regular files directly in the library are images. Hidden names are the temp files of
 *   uploads in progress (`.NAME.<random>.part`, see ipc/web-upload.ts; an upload's own name never
 *   starts with a dot): never listed, never removed. Symlinks, folders, devices are neither.
 * - Remove unlinks one name whose real parent folder is the library's real folder, checked with
 *   lstat: never a file elsewhere, never through a symlink (nor the symlink itself), never an
 *   image a VM's CD-ROM is (by path or by being the same file).
 * - Recognising an OS reads a few hundred KiB of the image (iso/inspect.ts), cached in memory by
 *   the file's identity (device, inode, size, mtime, ctime): a list of many 4 GiB images reads
 *   each one once, and any change to a file reads it again.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IsoLibraryEntry } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { inspectIso } from './inspect.js';
import { loadOsinfoDb } from './osinfo-source.js';
import { recognizeOs } from './recognize.js';

/** The library holds a few dozen images; older entries go first past this. */
const MAX_CACHED_OS = 256;

type Recognised = { os?: string };
/** Identity → what the image was recognised as (no `os` when it was not, or is not an ISO). */
const recognised = new Map<string, Recognised>();

const identity = (st: fs.BigIntStats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** Recognises the OS of the regular file `file` that `st` (its lstat) describes. Never throws. */
async function recognise(file: string, st: fs.BigIntStats): Promise<Recognised> {
  const key = identity(st);
  const hit = recognised.get(key);
  if (hit) return hit;
  let result: Recognised = {};
  libraryCounters.inspections++;
  try {
    const [info, db] = await Promise.all([inspectIso(file), loadOsinfoDb()]);
    const os = recognizeOs(info, db);
    if (os.confidence !== 'none') result = { os: os.name };
  } catch {
    // Not a disc image, damaged, unreadable: listed without an OS (and removable all the same).
  }
  if (recognised.size >= MAX_CACHED_OS) recognised.delete(recognised.keys().next().value!);
  recognised.set(key, result);
  return result;
}

/** How many images were read for recognition since the process started (tests see the cache work). */
export const libraryCounters = { inspections: 0 };

/**
 * VMs whose CD-ROM is `file`: the same path, or another path to the same file (a symlink, a
 * second hard link). `cdroms` maps each VM's CD-ROM path to its identity, computed once per call.
 */
function usersOf(
  file: string,
  st: fs.BigIntStats,
  vms: readonly VmSummary[],
  cdroms: Map<string, string | undefined>,
): { id: string; name: string }[] {
  const same = `${st.dev}:${st.ino}`;
  return vms
    .filter((vm) => (vm.definition?.cdroms ?? []).some((cd) => cd && (cd === file || cdroms.get(cd) === same)))
    .map((vm) => ({ id: vm.id, name: vm.name }));
}

async function cdromIdentities(vms: readonly VmSummary[]): Promise<Map<string, string | undefined>> {
  const paths = [
    ...new Set(vms.flatMap((vm) => (vm.definition?.cdroms ?? []).filter((cd): cd is string => cd !== null))),
  ];
  const ids = await Promise.all(
    paths.map(async (p) => {
      const st = await fs.promises.stat(p, { bigint: true }).catch(() => undefined);
      return st ? `${st.dev}:${st.ino}` : undefined;
    }),
  );
  return new Map(paths.map((p, i) => [p, ids[i]]));
}

/**
 * In a folder of the user's (the isoFolder setting) only disc images count: `.iso` and `.img`
 * files. Anything else there (their documents, keys) is neither listed nor removed.
 */
export function isDiscImageName(name: string): boolean {
  return /\.(iso|img)$/i.test(name);
}

/** The images in `dir`, sorted by name. A library that does not exist yet is empty.
 * `imagesOnly`: a folder of the user's, where only disc images count (isDiscImageName). */
export async function listIsoLibrary(
  dir: string,
  vms: readonly VmSummary[],
  imagesOnly = false,
): Promise<IsoLibraryEntry[]> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
  const cdroms = await cdromIdentities(vms);
  const entries = await Promise.all(
    names
      .filter((name) => !name.startsWith('.') && (!imagesOnly || isDiscImageName(name)))
      .map(async (name): Promise<IsoLibraryEntry | undefined> => {
        const file = path.join(dir, name);
        // Gone meanwhile (removed, or an upload's duplicate cleaned up): not listed.
        const st = await fs.promises.lstat(file, { bigint: true }).catch(() => undefined);
        if (!st?.isFile()) return undefined;
        const { os } = await recognise(file, st);
        return {
          path: file,
          name,
          sizeBytes: Number(st.size),
          storedAt: new Date(Number(st.mtimeMs)).toISOString(),
          ...(os ? { os } : {}),
          usedBy: usersOf(file, st, vms, cdroms),
        };
      }),
  );
  return entries
    .filter((e): e is IsoLibraryEntry => e !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** `name` as a shell word: bare when it is safe, else single-quoted. */
function shellWord(name: string): string {
  return /^[A-Za-z0-9._+:,@%=/-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`;
}

function inUse(file: string, users: { id: string; name: string }[]): VmdeskError {
  const quoted = users.map((u) => `"${u.name}"`);
  const who =
    users.length === 1 ? `the VM ${quoted[0]}` : `the VMs ${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}`;
  const eject = users.map((u) => `vmdesk eject ${shellWord(u.name)}`).join('; ');
  return new VmdeskError(
    'disk-in-use',
    `${path.basename(file)} is used by ${who}: eject it first (${eject}), then remove it.`,
    { field: 'path', usedBy: users },
  );
}

async function realDir(dir: string): Promise<string> {
  return fs.promises.realpath(dir).catch(() => path.resolve(dir));
}

/**
 * Removes the image `file` from the library `dir`. MUST refuse, with a sentence and nothing
 * removed: a relative path, a file outside `dir` (compared by real parent folder), a hidden
 * name, a symlink or anything not a regular file, an image a VM uses; MUST throw not-found when
 * there is no such file.
 */
export async function removeFromIsoLibrary(
  dir: string,
  file: string,
  vms: readonly VmSummary[],
  imagesOnly = false,
): Promise<{ path: string }> {
  if (!path.isAbsolute(file))
    throw new VmdeskError(
      'invalid-argument',
      `"${file}" is not an absolute path. Give the image's full path, as \`vmdesk iso list\` shows it.`,
      { field: 'path' },
    );
  const abs = path.resolve(file);
  const name = path.basename(abs);
  const [lib, parent] = await Promise.all([realDir(dir), realDir(path.dirname(abs))]);
  if (parent !== lib || name === '' || name === '..')
    throw new VmdeskError(
      'invalid-argument',
      `${abs} is not in the ISO library (${dir}): vmdesk removes only the images it keeps there. Delete other files yourself.`,
      { field: 'path' },
    );
  if (imagesOnly && !isDiscImageName(name))
    throw new VmdeskError(
      'invalid-argument',
      `${name} is not a disc image (.iso or .img): in your ISO folder (${dir}) vmdesk removes only those. Delete other files yourself.`,
      { field: 'path' },
    );
  if (name.startsWith('.'))
    throw new VmdeskError(
      'invalid-argument',
      `${name} is not an image of the ISO library: hidden files there are uploads in progress, which vmdesk removes itself.`,
      { field: 'path' },
    );
  let st: fs.BigIntStats;
  try {
    st = await fs.promises.lstat(abs, { bigint: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT')
      throw new VmdeskError(
        'not-found',
        `There is no image "${name}" in the ISO library (${dir}). See \`vmdesk iso list\` for what is there.`,
        { field: 'path' },
      );
    throw err;
  }
  if (st.isSymbolicLink())
    throw new VmdeskError(
      'invalid-argument',
      `${abs} is a symbolic link, not an image vmdesk stored: vmdesk removes neither it nor what it points to. Remove the link yourself if you do not need it.`,
      { field: 'path' },
    );
  if (!st.isFile())
    throw new VmdeskError(
      'invalid-argument',
      `${abs} is not a regular file (a folder, device or socket), so it is not an image vmdesk stored: vmdesk does not remove it.`,
      { field: 'path' },
    );
  const users = usersOf(abs, st, vms, await cdromIdentities(vms));
  if (users.length > 0) throw inUse(abs, users);
  try {
    // unlink(2) removes this name only: had it been swapped for a symlink since the lstat, the
    // link would go, never its target.
    await fs.promises.unlink(abs);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT')
      throw new VmdeskError('not-found', `${name} was removed from the ISO library meanwhile.`, { field: 'path' });
    throw err;
  }
  recognised.delete(identity(st));
  return { path: abs };
}
