// The tiny test guest (see build-guest.sh and init next to this file): builds it on demand and
// returns the ISO path. The shell script owns the cache; running it when the ISO is fresh costs
// only a few apt-cache/dpkg-query calls (well under a second).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_SCRIPT = path.join(here, 'build-guest.sh');

/** Where the integration globalSetup publishes the ISO path for the tests (an output, not an input). */
export const GUEST_ISO_ENV = 'VMDESK_TEST_GUEST_ISO';

let pending: Promise<{ iso: string }> | undefined;

/**
 * Absolute path of the test guest ISO, built (or rebuilt, when its inputs changed) if needed.
 * The script runs once per process; it takes a lock, so concurrent processes are safe.
 */
export function ensureTestGuest(): Promise<{ iso: string }> {
  pending ??= runBuild().catch((err: unknown) => {
    pending = undefined; // let a later call retry
    throw err;
  });
  return pending;
}

function runBuild(): Promise<{ iso: string }> {
  return new Promise((resolve, reject) => {
    // stderr (progress, apt/grub errors) goes straight to ours; stdout ends with the path.
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const iso = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`${BUILD_SCRIPT} failed (${signal ?? `exit ${code}`})`));
      else if (!path.isAbsolute(iso) || !existsSync(iso))
        reject(new Error(`${BUILD_SCRIPT} printed no ISO path: ${JSON.stringify(out)}`));
      else resolve({ iso });
    });
  });
}
