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
import type { HostServices, LaunchHost } from './host-services.js';
import type { LaunchFacts, ProbeHostOptions, ProvisionalHost } from '../host/probe-host.js';

export interface RealHostServices extends HostServices {
  /** The full host report (cached for the life of this object). */
  report(): Promise<HostReport>;
}

/** Where Secure Boot firmware with Microsoft's keys comes from. */
function secureBootHint(arch: Arch): string {
  if (arch === 'aarch64')
    return 'sudo apt install qemu-efi-aarch64 (Debian/Ubuntu) or sudo dnf install edk2-aarch64 (Fedora)';
  return 'sudo apt install ovmf (Debian/Ubuntu) or sudo dnf install edk2-ovmf (Fedora)';
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
  probe: (hooks: Pick<ProbeHostOptions, 'provisional'>) => Promise<HostReport> = (hooks) =>
    probeHost({ cacheDir: paths.cache, ...hooks }),
): RealHostServices {
  let pending: Promise<HostReport> | undefined;
  let settled = false;
  /** Resolves with the probe's provisional facts, or undefined when it answered without any. */
  let assumed: Promise<ProvisionalHost | undefined> = Promise.resolve(undefined);
  const report = (): Promise<HostReport> => {
    if (pending) return pending;
    let provide!: (p: ProvisionalHost | undefined) => void;
    assumed = new Promise((resolve) => (provide = resolve));
    settled = false;
    pending = probe({ provisional: provide }).then(
      (r) => {
        settled = true;
        provide(undefined);
        return r;
      },
      (err: unknown) => {
        pending = undefined;
        provide(undefined);
        throw err;
      },
    );
    return pending;
  };
  return {
    report,
    ...launchHostOn(report),
    async provisional(arch) {
      // Only to start the probe: its failure is reported to whoever asks for its answers.
      report().catch(() => undefined);
      const facts = await assumed;
      // Once the real answers are in, nothing is assumed any more.
      if (settled || !facts || facts.arch !== arch) return undefined;
      return launchHostOn(() => Promise.resolve(facts));
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

/** The answers a start needs, from `facts` (the real report, or provisional facts). */
function launchHostOn(facts: () => Promise<LaunchFacts>): LaunchHost {
  return {
    async qemuCaps(arch) {
      try {
        return requireQemu(await facts(), arch);
      } catch (err) {
        throw userError(err);
      }
    },
    async chooseAccel(requested, caps) {
      try {
        return chooseAccel(requested, (await facts()).accels[caps.arch], process.env.VMDESK_ACCEL);
      } catch (err) {
        throw userError(err);
      }
    },
    async uefiFirmware(arch: Arch, opts: { secureBoot?: boolean } = {}) {
      const r = await facts();
      const secureBoot = opts.secureBoot ?? false;
      // The machine types argv.ts uses; pickFirmware matches the aliases against descriptor globs.
      const fw = pickFirmware(r.firmware, arch, arch === 'x86_64' ? 'q35' : 'virt', { secureBoot });
      if (!fw?.varsTemplate) {
        const missing = r.firmware.missing.find((m) => m.arch === arch);
        if (secureBoot && !missing)
          throw new VmdeskError(
            'no-firmware',
            `No UEFI firmware with Secure Boot for ${arch} VMs was found (\`vmdesk host\` lists the firmware there is). Install it with: ${secureBootHint(arch)}, or turn Secure Boot off for this VM.`,
            { arch, secureBoot },
          );
        throw new VmdeskError(
          'no-firmware',
          `No UEFI firmware for ${arch} VMs was found${missing ? `: ${missing.reason}. Install it with: ${missing.fix}` : '.'}`,
          { arch },
        );
      }
      // Secure Boot that enforces nothing is worse than none: keys must be enrolled.
      if (secureBoot && !fw.enrolledKeys)
        throw new VmdeskError(
          'no-firmware',
          `The Secure Boot firmware ${fw.code} has no keys enrolled, so it would boot anything. Install one with Microsoft's keys: ${secureBootHint(arch)}.`,
          { arch, secureBoot },
        );
      return { code: fw.code, varsTemplate: fw.varsTemplate, smm: fw.requiresSmm };
    },
    async virtiofsd() {
      return (await facts()).virtiofsd;
    },
    async swtpm() {
      const s = (await facts()).swtpm;
      if (s.path) return s.path;
      throw new VmdeskError(
        'no-swtpm',
        `This VM has a TPM, which needs swtpm (the TPM emulator), and it is not installed${s.reason ? ` (${s.reason})` : ''}. Install it with: ${s.fix ?? 'your package manager (swtpm)'}, or turn the TPM off for this VM.`,
        { program: 'swtpm', ...(s.fix ? { fix: s.fix } : {}) },
      );
    },
  };
}
