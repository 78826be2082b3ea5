/**
 * The CLI's long way to the driver, and the only CLI module that loads it: openDriver with this
 * process's host services, native layer and manager options. It takes the lock and becomes the
 * owner for the length of the command, or reaches an owner that client-link.ts could not.
 *
 * Imported dynamically (main.ts) so a client command of a running driver never compiles the
 * driver, QEMU, libvirt or koffi code (the import-graph test, client-entry.test.ts, holds that).
 */
import type { AppPaths } from '../paths/app-paths.js';
import { getNative } from '../../native/index.js';
import { openDriver, type DriverLink } from '../ipc/driver-link.js';
import type { OwnerInfo } from '../vm/owner-lock.js';
import { managerOptionsFromEnv } from '../vm/vm-manager.js';
import { createHostServices } from '../vm/host-adapter.js';

export function openOwnDriver(
  paths: AppPaths,
  kind: OwnerInfo['kind'],
  programDir: string | undefined,
): Promise<DriverLink> {
  return openDriver({
    paths,
    kind,
    host: createHostServices(paths),
    native: getNative(),
    managerOptions: managerOptionsFromEnv(process.env),
    programDir,
  });
}
