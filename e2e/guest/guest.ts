// The tiny test guest (see build-guest.sh and init next to this file): builds it on demand and
// returns the ISO paths. The shell script owns the cache; running it when the ISOs are fresh costs
// only a few apt-cache/dpkg-query calls (well under a second).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_SCRIPT = path.join(here, 'build-guest.sh');

/** Where the integration globalSetup publishes the ISO path for the tests (an output, not an input). */
export const GUEST_ISO_ENV = 'VMDESK_TEST_GUEST_ISO';

/** The ISOs one build makes (the same kernel and initramfs; see build-guest.sh). */
export interface TestGuestIsos {
  /** guest.iso: boots under BIOS and UEFI with Secure Boot off (its EFI GRUB is unsigned). */
  iso: string;
  /**
   * guest-sb.iso: also boots under UEFI with Secure Boot enforced and Microsoft's keys enrolled
   * (OVMF_CODE_4M.ms.fd), through Debian's signed shim, GRUB and kernel. Give it ≥ 512 MiB there.
   */
  secureBootIso: string;
}

let pending: Promise<TestGuestIsos> | undefined;

/**
 * Absolute paths of the test guest ISOs, built (or rebuilt, when their inputs changed) if needed.
 * The script runs once per process; it takes a lock, so concurrent processes are safe.
 */
export function ensureTestGuest(): Promise<TestGuestIsos> {
  pending ??= runBuild().catch((err: unknown) => {
    pending = undefined; // let a later call retry
    throw err;
  });
  return pending;
}

/** The Secure Boot ISO (guest-sb.iso), as `{ iso }` like ensureTestGuest() for guest.iso. */
export async function ensureSecureBootTestGuest(): Promise<{ iso: string }> {
  return { iso: (await ensureTestGuest()).secureBootIso };
}

function runBuild(): Promise<TestGuestIsos> {
  return new Promise((resolve, reject) => {
    // stderr (progress, apt/grub errors) goes straight to ours; stdout is one ISO path a line,
    // guest.iso last.
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = out.trim().split('\n');
      const named = (name: string) =>
        lines.find((l) => path.isAbsolute(l) && path.basename(l) === name && existsSync(l));
      const iso = named('guest.iso');
      const secureBootIso = named('guest-sb.iso');
      if (code !== 0) reject(new Error(`${BUILD_SCRIPT} failed (${signal ?? `exit ${code}`})`));
      else if (!iso || !secureBootIso)
        reject(
          new Error(`${BUILD_SCRIPT} did not print the paths of guest.iso and guest-sb.iso: ${JSON.stringify(out)}`),
        );
      else resolve({ iso, secureBootIso });
    });
  });
}
