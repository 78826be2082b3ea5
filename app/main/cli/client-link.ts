/**
 * The CLI's short way to a running driver: read who owns the VMs from the owner lock's file and
 * talk to that owner's control socket, without loading the driver (VmManager, QEMU, libvirt,
 * koffi) and without creating or walking any directory. A client command then costs Node's
 * start-up, this file's few modules and one round trip.
 *
 * It only ever finds an owner that answers; everything else (no owner, a stale lock file, an
 * owner that is still starting or hangs, a runtime directory that is not private) goes the long
 * way, openDriver, which takes the lock, waits or says who is stuck: the one place that decides.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DriverLink } from '../ipc/driver-link.js';
import type { OwnerInfo } from '../vm/owner-lock.js';
import { ControlClient, type ReadOnlyCall } from '../ipc/control-client.js';
import type { AppPaths } from '../paths/app-paths.js';
import { driverFiles } from '../paths/vm-files.js';

/**
 * A client link to the driver that owns the VMs under `paths`, or undefined when none answers
 * there right now. Byte streams (console, log --follow) are rare and not worth a second client
 * implementation here: `openStream` asks `longWay` (openDriver) for a link on first use.
 */
export async function connectRunningDriver(
  paths: AppPaths,
  longWay: () => Promise<DriverLink>,
  opts: {
    /** The command's first call, when it changes nothing: sent with the hello (ControlClient.connect). */
    first?: ReadOnlyCall;
    uid?: number;
  } = {},
): Promise<DriverLink | undefined> {
  const owner = readOwner(driverFiles(paths).lock);
  if (!owner || !socketDirIsPrivate(owner.controlSocket, opts.uid ?? process.getuid?.())) return undefined;
  let client: ControlClient;
  try {
    client = await ControlClient.connect(owner.controlSocket, undefined, opts.first);
  } catch {
    return undefined;
  }
  let streams: Promise<DriverLink> | undefined;
  // ipc/driver-link.ts's clientLink has the same call/subscribe lines, but importing it would load
  // the stream machinery (ByteChannel, streams) every client command then pays for; streams take
  // the long way instead.
  return {
    mode: 'client',
    owner,
    call: (method, params) => client.call(method, params),
    subscribe: (listener) => client.subscribe(listener),
    async openStream(name, params) {
      streams ??= longWay();
      return (await streams).openStream(name, params);
    },
    async close() {
      client.close();
      if (streams) await (await streams.catch(() => undefined))?.close();
    },
  };
}

/** The owner the lock file names. One read, no retry: a file being written (an owner that is
 * starting) or emptied (one that is quitting) is the long way's business. */
function readOwner(lockFile: string): OwnerInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as Partial<OwnerInfo> | null;
    return info && typeof info.pid === 'number' && typeof info.controlSocket === 'string'
      ? (info as OwnerInfo)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The lock file outlives an owner killed without warning (and a reboot). Its socket's directory
 * must then still be ours and private, as ensureRuntimeDir made it, or another user could have
 * made that directory again (the /tmp fallback) and put a socket of theirs where ours was.
 */
function socketDirIsPrivate(socket: string, uid: number | undefined): boolean {
  try {
    const st = fs.lstatSync(path.dirname(socket));
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}
