/** The typed facade over the few libc calls the driver needs. Two implementations exist:
 * `createKoffiNative()` (real FFI through koffi) and `createFallbackNative()` (pure JS: Node's
 * process API and /proc, and an honest "unknown" where JS cannot reach). Callers depend on this
 * interface only, so tests inject either one, or their own typed fake. No koffi type appears here. */

/** A resource limit value; 'unlimited' is RLIM_INFINITY (its numeric value differs per OS). */
export type RlimitValue = number | 'unlimited';

/** Soft (enforced) and hard (ceiling an unprivileged process may raise the soft limit to), in bytes. */
export interface Rlimit {
  soft: RlimitValue;
  hard: RlimitValue;
}

/** The result of a native call that may be impossible here: `ok: false` carries why, never throws. */
export type NativeResult<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      /** Human sentence, e.g. "native layer not loaded: …" or "ioctl(KVM_GET_API_VERSION) failed: EBADF". */
      reason: string;
      /** errno name (EACCES, EWOULDBLOCK...) when the call reached the kernel. */
      errno?: string;
    };

/** Outcome of a non-blocking exclusive flock(2). */
export type FlockResult =
  | { state: 'acquired' }
  /** Another open file description holds the lock (EWOULDBLOCK); this includes a second
   * `openSync` of the same file in this very process: flock locks belong to the open file
   * description, not to the process. */
  | { state: 'held-by-other' }
  /** Locking is impossible here (no native layer, or the filesystem refuses: ENOLCK, EOPNOTSUPP…).
   * The caller MUST fall back to another exclusion scheme and SHOULD tell the user why. */
  | { state: 'unsupported'; reason: string };

/** ioctl numbers on /dev/kvm (linux/kvm.h: _IO(KVMIO=0xAE, nr)). */
export const KVM_GET_API_VERSION = 0xae00;
export const KVM_CHECK_EXTENSION = 0xae03;
/** The only KVM API version there has ever been; anything else means a broken kernel. */
export const KVM_API_VERSION = 12;
/** Capability numbers for KVM_CHECK_EXTENSION (linux/kvm.h). QEMU refuses KVM without USER_MEMORY. */
export const KVM_CAP_USER_MEMORY = 3;
export const KVM_CAP_NR_VCPUS = 9;
export const KVM_CAP_MAX_VCPUS = 66;

/**
 * Host calls behind one interface.
 *
 * Contract: no method throws for a condition of the host (missing library, unsupported OS,
 * errno from the kernel); those come back as `ok: false` / 'unsupported' with a reason. Methods
 * MAY throw for caller bugs (a negative fd, EBADF on flock).
 */
export interface NativeHost {
  /** Which implementation this is; 'fallback' also when koffi was wanted but could not load. */
  readonly implementation: 'koffi' | 'fallback';
  /** True when real FFI calls are available. */
  readonly loaded: boolean;
  /** Why koffi is not loaded (only set on the fallback chosen after a failed load). */
  readonly loadError?: string;

  /** Real user and group ids of this process; undefined where the OS has none (Windows). */
  getuid(): number | undefined;
  getgid(): number | undefined;
  /** Supplementary groups of this process: what the kernel checks, which lags /etc/group
   * until the user logs out and in again. May or may not include the effective gid (Node's
   * process.getgroups() adds it, libc's does not): check getgid() too. */
  getgroups(): number[] | undefined;

  /** getrlimit(RLIMIT_MEMLOCK), in bytes. */
  getMemlockLimit(): NativeResult<Rlimit>;
  /** setrlimit(RLIMIT_MEMLOCK). Limits are inherited by children, so calling this before
   * spawning QEMU is how a QEMU gets a higher limit. Returns the limit read back. */
  setMemlockLimit(limit: Rlimit): NativeResult<Rlimit>;

  /** ioctl(fd, KVM_GET_API_VERSION) on an fd of /dev/kvm opened by the caller. */
  kvmApiVersion(fd: number): NativeResult<number>;
  /** ioctl(fd, KVM_CHECK_EXTENSION, cap): 0 = absent, >0 = present (some caps return a count). */
  kvmCheckExtension(fd: number, cap: number): NativeResult<number>;

  /** sysctlbyname(name) for an integer value (macOS: kern.hv_support, hw.optional.arm64). */
  sysctlInt(name: string): NativeResult<number>;

  /** flock(fd, LOCK_EX | LOCK_NB) on an fd from fs.openSync. */
  lockExclusive(fd: number): FlockResult;
  /** flock(fd, LOCK_UN). Closing the fd also releases the lock. */
  unlock(fd: number): NativeResult<void>;
}

/** Thrown only for caller bugs (see the NativeHost contract). */
export class NativeCallError extends Error {
  override readonly name = 'NativeCallError';
  constructor(
    readonly call: string,
    readonly errno: string,
  ) {
    super(`${call} failed: ${errno}`);
  }
}
