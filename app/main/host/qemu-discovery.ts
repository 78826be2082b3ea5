import path from 'node:path';
import type { HostFs } from './host-io.js';
import { errnoOf } from './host-io.js';
import type { Arch, HostReport, QemuCaps } from '../common/host-types.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Env variables that pin a binary; an explicit pin is never silently replaced by a PATH hit. */
export const QEMU_ENV: Record<Arch, string> = { x86_64: 'VMDESK_QEMU_X86_64', aarch64: 'VMDESK_QEMU_AARCH64' };
export const QEMU_IMG_ENV = 'VMDESK_QEMU_IMG';

/** Where distros and package managers put QEMU, after PATH: a desktop app started from a launcher
 * often has a minimal PATH without Homebrew's or MacPorts' bin directories. */
export const USUAL_BIN_DIRS = ['/usr/bin', '/opt/homebrew/bin', '/usr/local/bin', '/opt/local/bin'];
/** RHEL/CentOS ship the host-arch emulator only as /usr/libexec/qemu-kvm (not on PATH). */
export const RHEL_QEMU_KVM = '/usr/libexec/qemu-kvm';

export type BinaryLookup =
  | { found: true; path: string; searched: string[] }
  | { found: false; searched: string[]; reason: string; /** Set when an env pin is what failed. */ envVar?: string };

/** Candidate paths, in order: every absolute PATH entry, then the usual dirs, then extras. */
export function candidatePaths(program: string, env: Env, extras: readonly string[] = []): string[] {
  // Relative PATH entries (and the empty entry, meaning cwd) are skipped: the app must not run a
  // "qemu" from whatever directory it was started in.
  const fromPath = (env['PATH'] ?? '').split(path.delimiter).filter((d) => path.isAbsolute(d));
  const all = [...fromPath, ...USUAL_BIN_DIRS].map((d) => path.join(d, program));
  return [...new Set([...all, ...extras])];
}

async function executableProblem(fs: HostFs, p: string): Promise<string | undefined> {
  try {
    const s = await fs.stat(p);
    if (!s.isFile) return 'not a regular file';
    await fs.access(p, 'execute');
    return undefined;
  } catch (err) {
    return errnoOf(err) ?? (err as Error).message;
  }
}

/** First executable file among `candidates`, or the list that was tried. `envVar` set to a
 * non-empty value replaces the search entirely. */
export async function findBinary(
  fs: HostFs,
  program: string,
  candidates: readonly string[],
  env: Env,
  envVar: string,
): Promise<BinaryLookup> {
  const pinned = env[envVar];
  if (pinned) {
    const problem = await executableProblem(fs, pinned);
    if (!problem) return { found: true, path: pinned, searched: [pinned] };
    return {
      found: false,
      searched: [pinned],
      envVar,
      reason: `${envVar}=${pinned} is not an executable file (${problem})`,
    };
  }
  // Checked concurrently: a warm probe stats a dozen paths and must stay well under 100 ms.
  const problems = await Promise.all(candidates.map((c) => executableProblem(fs, c)));
  const hit = candidates.findIndex((_, i) => problems[i] === undefined);
  if (hit >= 0) return { found: true, path: candidates[hit]!, searched: candidates.slice(0, hit + 1) };
  return {
    found: false,
    searched: [...candidates],
    reason: `no ${program} in PATH or in ${USUAL_BIN_DIRS.join(', ')}`,
  };
}

/** Locates qemu-system-<arch>. `hostArch` adds /usr/libexec/qemu-kvm for the host's own arch. */
export function findQemuSystem(fs: HostFs, env: Env, arch: Arch, hostArch: string): Promise<BinaryLookup> {
  const program = `qemu-system-${arch}`;
  return findBinary(
    fs,
    program,
    candidatePaths(program, env, hostArch === arch ? [RHEL_QEMU_KVM] : []),
    env,
    QEMU_ENV[arch],
  );
}

export function findQemuImg(fs: HostFs, env: Env): Promise<BinaryLookup> {
  return findBinary(fs, 'qemu-img', candidatePaths('qemu-img', env), env, QEMU_IMG_ENV);
}

/** swtpm (the TPM emulator of VMs with a TPM); VMDESK_SWTPM pins it. */
export function findSwtpm(fs: HostFs, env: Env): Promise<BinaryLookup> {
  return findBinary(fs, 'swtpm', candidatePaths('swtpm', env), env, 'VMDESK_SWTPM');
}

/** virtiofsd: the Rust one (Debian 13, Fedora: /usr/libexec/virtiofsd) before QEMU's own C one
 * (Debian 12: /usr/lib/qemu/virtiofsd); VMDESK_VIRTIOFSD pins one. */
export function findVirtiofsd(fs: HostFs, env: Env): Promise<BinaryLookup> {
  return findBinary(
    fs,
    'virtiofsd',
    [
      '/usr/libexec/virtiofsd',
      ...candidatePaths('virtiofsd', env),
      '/usr/lib/qemu/virtiofsd',
      '/usr/libexec/qemu/virtiofsd',
    ],
    env,
    'VMDESK_VIRTIOFSD',
  );
}

/** QEMU's own virtiofsd (C) lives in QEMU's helper dirs; the others are the Rust one. */
export function virtiofsdFlavour(file: string): 'qemu' | 'rust' {
  return /\/(lib|libexec)\/qemu\/virtiofsd$/.test(file) ? 'qemu' : 'rust';
}

/** No usable QEMU for an architecture (or no qemu-img); the message says how to install it. */
export class QemuNotFoundError extends Error {
  override readonly name = 'QemuNotFoundError';
  constructor(
    readonly program: string,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`${program} is not usable: ${reason}. Install it with: ${fix}`);
  }
}

/** The caps for `arch` from a report, or a QemuNotFoundError explaining how to get them. */
export function requireQemu(report: Pick<HostReport, 'qemu'>, arch: Arch): QemuCaps {
  const q = report.qemu[arch];
  if (q.status === 'ok') return q.caps;
  throw new QemuNotFoundError(`qemu-system-${arch}`, q.reason, q.fix);
}

/** The qemu-img path from a report, or a QemuNotFoundError. */
export function requireQemuImg(report: Pick<HostReport, 'qemuImg'>): string {
  const q = report.qemuImg;
  if (q.status === 'ok') return q.path;
  throw new QemuNotFoundError('qemu-img', q.reason, q.fix);
}
