/**
 * The mdev layer's only doors to the OS: a small read-only filesystem interface (the host probe's
 * HostFs plus readlink, which sysfs needs for `driver`, `mdev_type` and `iommu_group`), and the
 * roots every sysfs and /dev path hangs from, so tests point them at a fixture tree.
 */
import { readlink } from 'node:fs/promises';
import path from 'node:path';
import type { HostFs } from '../host/host-io.js';
import { nodeHostFs } from '../host/node-host-io.js';
import { pathExists } from '../host/host-io.js';

/**
 * Contract: like HostFs, failing methods reject with an Error carrying a string `code` (ENOENT,
 * EACCES, EINVAL for readLink of a non-link); `errnoOf()` from host-io reads it.
 */
export interface MdevFs extends Pick<HostFs, 'readText' | 'readDir' | 'stat' | 'access'> {
  /** readlink(2): the link's own target text (often relative), not resolved. */
  readLink(path: string): Promise<string>;
}

export const nodeMdevFs: MdevFs = {
  readText: nodeHostFs.readText,
  readDir: nodeHostFs.readDir,
  stat: nodeHostFs.stat,
  access: nodeHostFs.access,
  readLink: (p) => readlink(p),
};

/** Env variables naming the roots. Test-only in practice; the defaults are the real host. */
export const SYSFS_ROOT_ENV = 'VMDESK_SYSFS_ROOT';
export const DEV_ROOT_ENV = 'VMDESK_DEV_ROOT';
/** Where /etc is, for the fixes the helper has already written (limits.d). */
export const ETC_ROOT_ENV = 'VMDESK_ETC_ROOT';

/**
 * Where /sys and /dev are. Both are prefixes of the absolute paths: with sysfsRoot "/tmp/t",
 * /sys/class/mdev_bus is read at /tmp/t/sys/class/mdev_bus (and /dev/vfio/vfio with devRoot "/tmp/t"
 * at /tmp/t/dev/vfio/vfio), so one fixture directory can hold both trees.
 */
export interface MdevRoots {
  sysfsRoot: string;
  devRoot: string;
  /** Default "/". */
  etcRoot?: string;
}

/** Relative or empty values are ignored (as XDG does), so a stray `VMDESK_SYSFS_ROOT=sys` can't
 * make vmdesk read a directory relative to wherever it was started. */
export function rootsFromEnv(env: NodeJS.ProcessEnv): MdevRoots {
  const abs = (v: string | undefined) => (v && path.isAbsolute(v) ? v : '/');
  return { sysfsRoot: abs(env[SYSFS_ROOT_ENV]), devRoot: abs(env[DEV_ROOT_ENV]), etcRoot: abs(env[ETC_ROOT_ENV]) };
}

/** `abs` (an absolute host path such as "/sys/bus/mdev") under `root`. */
export function under(root: string, abs: string): string {
  return path.join(root, abs);
}

/** A trimmed attribute, or undefined when the file is missing or unreadable (with why, in `problems`). */
export async function readAttr(
  fs: MdevFs,
  file: string,
  problems: string[],
  label: string,
): Promise<string | undefined> {
  try {
    return (await fs.readText(file)).replace(/\n$/, '');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    problems.push(
      code === 'ENOENT'
        ? `${label} is missing`
        : `${label} cannot be read (${typeof code === 'string' ? code : (err as Error).message})`,
    );
    return undefined;
  }
}

export async function linkBasename(fs: MdevFs, link: string): Promise<string | undefined> {
  try {
    return path.basename(await fs.readLink(link));
  } catch {
    return undefined;
  }
}

export async function listDir(fs: MdevFs, dir: string): Promise<string[] | undefined> {
  try {
    return (await fs.readDir(dir)).sort();
  } catch {
    return undefined;
  }
}

/** True when `p` can be stat'ed (the host layer's check, shared). */
export const exists: (fs: MdevFs, p: string) => Promise<boolean> = pathExists;
