/**
 * HostServices on top of the host probe: one probe per driver process (the probe's own cache
 * makes it a few milliseconds when warm), errors turned into user-facing VmdeskErrors.
 */
import os from 'node:os';
import { VmdeskError } from '../common/errors.js';
import {
  AccelOverrideError,
  AccelUnavailableError,
  chooseAccel,
  pickFirmware,
  probeHost,
  QemuNotFoundError,
  requireQemu,
  requireQemuImg,
  type Arch,
  type HostReport,
} from '../host/index.js';
import type { AppPaths } from '../paths/app-paths.js';
import type { HostServices } from './host-services.js';

export interface RealHostServices extends HostServices {
  /** The full host report (cached for the life of this object). */
  report(): Promise<HostReport>;
}

function userError(err: unknown): unknown {
  if (err instanceof QemuNotFoundError)
    return new VmdeskError('no-qemu', err.message, { program: err.program, fix: err.fix });
  if (err instanceof AccelUnavailableError)
    return new VmdeskError('accel-unavailable', err.message, { accel: err.accel, fix: err.fix });
  if (err instanceof AccelOverrideError)
    return new VmdeskError('invalid-argument', err.message, { field: 'VMDESK_ACCEL' });
  return err;
}

export function createHostServices(
  paths: AppPaths,
  probe: () => Promise<HostReport> = () => probeHost({ cacheDir: paths.cache }),
): RealHostServices {
  let pending: Promise<HostReport> | undefined;
  const report = () =>
    (pending ??= probe().catch((err: unknown) => {
      pending = undefined;
      throw err;
    }));
  return {
    report,
    async qemuCaps(arch) {
      try {
        return requireQemu(await report(), arch);
      } catch (err) {
        throw userError(err);
      }
    },
    async chooseAccel(requested, caps) {
      try {
        return chooseAccel(requested, (await report()).accels[caps.arch], process.env.VMDESK_ACCEL);
      } catch (err) {
        throw userError(err);
      }
    },
    async uefiFirmware(arch: Arch) {
      const r = await report();
      // The machine types argv.ts uses; pickFirmware matches the aliases against descriptor globs.
      const fw = pickFirmware(r.firmware, arch, arch === 'x86_64' ? 'q35' : 'virt');
      if (!fw?.varsTemplate) {
        const missing = r.firmware.missing.find((m) => m.arch === arch);
        throw new VmdeskError(
          'no-firmware',
          `No UEFI firmware for ${arch} VMs was found${missing ? `: ${missing.reason}. Install it with: ${missing.fix}` : '.'}`,
          { arch },
        );
      }
      return { code: fw.code, varsTemplate: fw.varsTemplate };
    },
    async qemuImg() {
      try {
        return requireQemuImg(await report());
      } catch (err) {
        throw userError(err);
      }
    },
    hostMemoryMiB: () => Math.floor(os.totalmem() / 2 ** 20),
    hostCpus: () => os.availableParallelism?.() ?? os.cpus().length,
  };
}
