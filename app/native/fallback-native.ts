import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FlockResult, NativeHost, NativeResult, Rlimit } from './native-host.js';
import { parseProcMemlock } from './proc-limits.js';

export interface FallbackNativeOptions {
  /** Why koffi is not used; reported by `loadError` and in every "unknown" reason. */
  loadError?: string;
  platform?: NodeJS.Platform;
  /** Reads a small text file (default: fs.readFileSync utf8); injectable for tests. */
  readTextFile?: (path: string) => string;
  /** Runs a command and returns stdout (default: execFileSync); used for `sysctl -n` on macOS. */
  runSync?: (file: string, args: readonly string[]) => string;
}

/**
 * The pure-JS NativeHost: ids come from Node's process API, the memlock limit from
 * /proc/self/limits (Linux), macOS sysctls from the `sysctl` command. What JS cannot do at all
 * (setrlimit, ioctl, flock) is reported as impossible with the reason, never guessed.
 */
export function createFallbackNative(options: FallbackNativeOptions = {}): NativeHost {
  const platform = options.platform ?? process.platform;
  const readTextFile = options.readTextFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const runSync =
    options.runSync ??
    ((file: string, args: readonly string[]) =>
      execFileSync(file, args, { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }));
  const why = options.loadError ? `native layer not loaded: ${options.loadError}` : 'native layer not in use';
  const impossible = <T>(what: string): NativeResult<T> => ({
    ok: false,
    reason: `${what} needs the native layer (${why})`,
  });

  return {
    implementation: 'fallback',
    loaded: false,
    ...(options.loadError !== undefined ? { loadError: options.loadError } : {}),

    getuid: () => process.getuid?.(),
    getgid: () => process.getgid?.(),
    getgroups: () => process.getgroups?.(),

    getMemlockLimit(): NativeResult<Rlimit> {
      if (platform !== 'linux') return impossible('reading RLIMIT_MEMLOCK on this OS');
      let text: string;
      try {
        text = readTextFile('/proc/self/limits');
      } catch (err) {
        return { ok: false, reason: `cannot read /proc/self/limits: ${(err as Error).message}` };
      }
      const limit = parseProcMemlock(text);
      return limit
        ? { ok: true, value: limit }
        : { ok: false, reason: 'no "Max locked memory" row in /proc/self/limits' };
    },
    setMemlockLimit: () => impossible('setrlimit(RLIMIT_MEMLOCK)'),
    kvmApiVersion: () => impossible('ioctl(KVM_GET_API_VERSION)'),
    kvmCheckExtension: () => impossible('ioctl(KVM_CHECK_EXTENSION)'),

    sysctlInt(name: string): NativeResult<number> {
      if (platform !== 'darwin') return { ok: false, reason: `sysctl ${name} exists only on macOS` };
      try {
        const out = runSync('/usr/sbin/sysctl', ['-n', name]).trim();
        return /^-?\d+$/.test(out)
          ? { ok: true, value: Number(out) }
          : { ok: false, reason: `sysctl ${name} printed "${out}"` };
      } catch (err) {
        // sysctl exits non-zero for an unknown name (e.g. hw.optional.arm64 on old Intel macOS).
        return { ok: false, reason: `sysctl -n ${name} failed: ${(err as Error).message.split('\n')[0]}` };
      }
    },

    lockExclusive: (): FlockResult => ({ state: 'unsupported', reason: `flock(2) needs the native layer (${why})` }),
    unlock: () => impossible('flock(LOCK_UN)'),
  };
}
