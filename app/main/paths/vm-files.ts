/**
 * The one module that names every per-VM file (after Lima's filenames.go). Nothing else in the
 * code base joins a file name onto a VM directory.
 */
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import type { AppPaths } from './app-paths.js';

/**
 * sockaddr_un.sun_path is 108 bytes on Linux and 104 on macOS, including the terminating NUL.
 * A longer path cannot be bound at all, and QEMU's own error for it is cryptic.
 */
export const SOCKET_PATH_MAX: Readonly<Record<string, number>> = { linux: 107, darwin: 103 };

export function socketPathMax(platform: NodeJS.Platform): number {
  return SOCKET_PATH_MAX[platform] ?? 103;
}

export interface VmFiles {
  /** The VM definition, `<config>/vms/<id>.json`. */
  definition: string;
  /** Disks and NVRAM the VM owns. */
  dataDir: string;
  /** qemu.log, serial.log, driver.log. */
  logDir: string;
  qemuLog: string;
  serialLog: string;
  driverLog: string;
  /** The last picture of its screen (vm.thumbnail): beside its logs, so deleting the VM removes it. */
  screenThumb: string;
  /** When its QEMU last ended (an ISO time; the list's "last used" order reads it). */
  lastRun: string;
  /** Which QEMU process runs this VM and where its sockets are (lives in state, not runtime, so
   * a driver started with another XDG_RUNTIME_DIR still finds the VM). */
  runRecord: string;
  /** Sockets and the pidfile. */
  runtimeDir: string;
  qmpSocket: string;
  serialSocket: string;
  vncSocket: string;
  pidfile: string;
  /** The guest agent's channel (virtio-serial port org.qemu.guest_agent.0). */
  qgaSocket: string;
  /** swtpm (a VM with a TPM): its control socket, pidfile, log and state dir (in the data dir,
   * with the disks: it is the TPM's memory, keys included). */
  swtpmSocket: string;
  swtpmPidfile: string;
  swtpmLog: string;
  tpmStateDir: string;
}

/** The first 8 hex digits of the UUID keep socket paths short; collisions are checked at start. */
export function shortId(id: string): string {
  return id.replace(/-/g, '').slice(0, 8);
}

/** Where a VM keeps its disks, UEFI variables, TPM state and snapshots unless its definition says
 * otherwise (`dataDir`, from the vmFolder setting): `<data>/vms/<id>`. */
export function defaultDataDir(p: AppPaths, id: string): string {
  return path.join(p.data, 'vms', id);
}

/**
 * The data folder of a new VM made while the vmFolder setting names `folder` (empty: the
 * default): `<folder>/<name>-<first 8 hex digits of its id>`, so a person browsing the folder
 * knows each one, and two VMs (or a VM renamed later) never meet. The name part is made safe for
 * any file system the folder may be on (FAT, exFAT and NTFS refuse `:?*"<>|\`) and cut to 200
 * bytes (a file name has 255 at most; a VM name may be 64 four-byte characters).
 */
export function newDataDir(p: AppPaths, id: string, name: string, folder: string): string {
  if (!folder) return defaultDataDir(p, id);
  let safe = name.replace(/[\p{Cc}:?*"<>|\\/]/gu, '_').replace(/[. ]+$/, '');
  while (Buffer.byteLength(safe) > 200) safe = [...safe].slice(0, -1).join('');
  return path.join(folder, `${safe || 'vm'}-${shortId(id)}`);
}

/** Whether a definition's `dataDir` is a folder `newDataDir` makes for VM `id` (`…-<id8>`, a
 * normal absolute path): any other folder is refused, since delete removes the folder whole. */
export function isOwnDataDir(dataDir: string, id: string): boolean {
  return (
    path.isAbsolute(dataDir) &&
    path.normalize(dataDir) === dataDir &&
    !dataDir.endsWith(path.sep) &&
    path.basename(dataDir).endsWith(`-${shortId(id)}`)
  );
}

/** `dataDir`: the definition's own (see defaultDataDir); every other file lives where the app's are. */
export function vmFiles(p: AppPaths, id: string, dataDir: string = defaultDataDir(p, id)): VmFiles {
  const logDir = path.join(p.state, 'logs', id);
  const runtimeDir = path.join(p.runtime, shortId(id));
  return {
    definition: path.join(definitionsDir(p), `${id}.json`),
    dataDir,
    logDir,
    qemuLog: path.join(logDir, 'qemu.log'),
    serialLog: path.join(logDir, 'serial.log'),
    driverLog: path.join(logDir, 'driver.log'),
    screenThumb: path.join(logDir, 'screen.png'),
    lastRun: path.join(logDir, 'last-run'),
    runRecord: path.join(p.state, 'run', `${id}.json`),
    runtimeDir,
    qmpSocket: path.join(runtimeDir, 'qmp.sock'),
    serialSocket: path.join(runtimeDir, 'serial.sock'),
    vncSocket: path.join(runtimeDir, 'vnc.sock'),
    pidfile: path.join(runtimeDir, 'qemu.pid'),
    qgaSocket: path.join(runtimeDir, 'qga.sock'),
    swtpmSocket: path.join(runtimeDir, 'swtpm.sock'),
    swtpmPidfile: path.join(runtimeDir, 'swtpm.pid'),
    swtpmLog: path.join(logDir, 'swtpm.log'),
    tpmStateDir: path.join(dataDir, 'tpm'),
  };
}

/** Shared folder number `index`: the socket its virtiofsd serves and that virtiofsd's log. */
export function shareFiles(files: VmFiles, index: number): { socket: string; log: string } {
  return {
    socket: path.join(files.runtimeDir, `fs${index}.sock`),
    log: path.join(files.logDir, `virtiofsd-${index}.log`),
  };
}

export function definitionsDir(p: AppPaths): string {
  return path.join(p.config, 'vms');
}

/**
 * Define and delete write an intent here first (`<id>.json`), so a driver that takes over after
 * a crash finishes or rolls back what the dead one was doing. In config, next to the definitions.
 */
export function intentsDir(p: AppPaths): string {
  return path.join(p.config, 'intents');
}

export function runRecordsDir(p: AppPaths): string {
  return path.join(p.state, 'run');
}

/** A new disk the VM owns, in its data folder (VmFiles.dataDir): `disk<N>.qcow2`. */
export function ownedDiskPath(dataDir: string, index: number, format: 'qcow2' | 'raw'): string {
  return path.join(dataDir, `disk${index}.${format === 'qcow2' ? 'qcow2' : 'img'}`);
}

/** The VM's UEFI variable store: one for plain UEFI, another (from the template with keys
 * enrolled) for Secure Boot, so switching back and forth keeps each one's boot entries. */
export function nvramPath(dataDir: string, secureBoot = false): string {
  return path.join(dataDir, secureBoot ? 'efivars-secure.fd' : 'efivars.fd');
}

/** The ISO library: the isoFolder setting's folder, else `<data>/isos`. */
export function isoLibraryDir(p: AppPaths, folder = ''): string {
  return folder || path.join(p.data, 'isos');
}

/** The driver's own files: one owner per config dir. */
export function driverFiles(p: AppPaths) {
  return {
    /** flock()ed by the owner; holds its pid and control socket path. In config (not runtime) so
     * two drivers with different XDG_RUNTIME_DIR over one config still see each other. */
    lock: path.join(p.config, 'driver.lock'),
    controlSocket: path.join(p.runtime, 'control.sock'),
    driverLog: path.join(p.state, 'logs', 'driver.log'),
    capsCacheDir: p.cache,
  };
}

/**
 * Throws a clear error when a socket path cannot be bound. Says which variable to shorten.
 */
export function assertSocketPathFits(
  socketPath: string,
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const max = socketPathMax(platform);
  const bytes = Buffer.byteLength(socketPath);
  if (bytes <= max) return;
  // A relative XDG_RUNTIME_DIR is ignored (XDG spec), so then the temp dir is what to shorten.
  const variable = env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR) ? 'XDG_RUNTIME_DIR' : 'TMPDIR';
  const where = env[variable] ? ` (now ${env[variable]})` : '';
  throw new VmdeskError(
    'socket-path-too-long',
    `The socket path ${socketPath} is ${bytes} bytes, but unix sockets allow at most ${max} on ${platform === 'darwin' ? 'macOS' : 'Linux'}. ` +
      `Set ${variable} to a shorter directory${where}, e.g. ${platform === 'darwin' ? '/tmp' : '/run/user/$(id -u)'}.`,
    { socketPath, bytes, max, variable },
  );
}
