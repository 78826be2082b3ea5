import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import type { FlockResult, NativeHost, NativeResult, Rlimit, RlimitValue } from './native-host.js';
import { KVM_CHECK_EXTENSION, KVM_GET_API_VERSION, NativeCallError } from './native-host.js';

// koffi's types stay inside this file: the facade (native-host.ts) is all callers see. A
// type-only import: the module itself is required lazily in defaultRequireKoffi().
import type * as KoffiModule from 'koffi';

type Koffi = typeof KoffiModule;
type Fn = (...args: unknown[]) => unknown;

/** flock(2) operations; identical on Linux, macOS and the BSDs. */
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

interface PlatformAbi {
  libc: string;
  rlimitMemlock: number;
  /** Width of rlim_t in bytes and the value of RLIM_INFINITY. */
  rlimBytes: 4 | 8;
  rlimInfinity: bigint;
}

function abiFor(platform: NodeJS.Platform, koffi: Koffi): PlatformAbi {
  switch (platform) {
    case 'linux': {
      // glibc's plain getrlimit uses `unsigned long` (32-bit on 32-bit ARM); RLIM_INFINITY is all
      // ones. RLIMIT_MEMLOCK is 8 on x86, ARM, RISC-V and POWER (MIPS and SPARC differ: unsupported).
      const rlimBytes = koffi.sizeof('unsigned long') === 4 ? 4 : 8;
      return { libc: 'libc.so.6', rlimitMemlock: 8, rlimBytes, rlimInfinity: (1n << BigInt(rlimBytes * 8)) - 1n };
    }
    case 'darwin':
      return { libc: '/usr/lib/libSystem.B.dylib', rlimitMemlock: 6, rlimBytes: 8, rlimInfinity: (1n << 63n) - 1n };
    case 'freebsd':
      return { libc: 'libc.so.7', rlimitMemlock: 6, rlimBytes: 8, rlimInfinity: (1n << 63n) - 1n };
    default:
      throw new Error(`no libc bindings for platform ${platform}`);
  }
}

export interface KoffiNativeOptions {
  platform?: NodeJS.Platform;
  /** Loads the koffi module (default: require('koffi')); injectable so tests can make it fail. */
  requireKoffi?: () => unknown;
}

function defaultRequireKoffi(): unknown {
  // Synchronous and lazy (only when the facade is first asked for). import.meta.url is this
  // module's URL in the sources and the bundle's in a bundle (scripts/build-shell.mjs defines it
  // for the CommonJS shell): either way node_modules is found above it.
  return createRequire(import.meta.url)('koffi');
}

/** Loads koffi and libc and returns the FFI-backed NativeHost. Throws when that is impossible;
 * `getNative()` turns the throw into a fallback with `loadError`. */
export function createKoffiNative(options: KoffiNativeOptions = {}): NativeHost {
  const platform = options.platform ?? process.platform;
  const koffi = (options.requireKoffi ?? defaultRequireKoffi)() as Koffi;
  if (typeof koffi?.load !== 'function') throw new Error('the koffi module has no load()');
  const abi = abiFor(platform, koffi);
  const lib = koffi.load(abi.libc);
  const fn = (proto: string): Fn => lib.func(proto) as unknown as Fn;

  const c = {
    getuid: fn('uint32_t getuid()'),
    getgid: fn('uint32_t getgid()'),
    getgroups: fn('int getgroups(int size, void *list)'),
    getrlimit: fn('int getrlimit(int resource, void *rlim)'),
    setrlimit: fn('int setrlimit(int resource, void *rlim)'),
    ioctl: fn('int ioctl(int fd, unsigned long request, ...)'),
    flock: fn('int flock(int fd, int operation)'),
    // Only libSystem has sysctlbyname; glibc dropped sysctl entirely.
    sysctlbyname:
      platform === 'linux'
        ? undefined
        : fn('int sysctlbyname(const char *name, void *oldp, void *oldlenp, void *newp, size_t newlen)'),
  };

  const errnoNames = new Map<number, string>();
  for (const [name, num] of Object.entries(koffi.os.errno)) if (!errnoNames.has(num)) errnoNames.set(num, name);
  const lastErrno = (): { num: number; name: string } => {
    const num = koffi.errno();
    return { num, name: errnoNames.get(num) ?? `errno ${num}` };
  };
  const failed = <T>(call: string): NativeResult<T> => {
    const e = lastErrno();
    return { ok: false, reason: `${call} failed: ${e.name}`, errno: e.name };
  };
  const le = endianness() === 'LE';

  const readRlim = (buf: Buffer, offset: number): RlimitValue => {
    const raw =
      abi.rlimBytes === 8
        ? le
          ? buf.readBigUInt64LE(offset)
          : buf.readBigUInt64BE(offset)
        : BigInt(le ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset));
    return raw === abi.rlimInfinity || raw > BigInt(Number.MAX_SAFE_INTEGER) ? 'unlimited' : Number(raw);
  };
  const writeRlim = (buf: Buffer, offset: number, value: RlimitValue): void => {
    const raw = value === 'unlimited' ? abi.rlimInfinity : BigInt(value);
    if (abi.rlimBytes === 8) {
      if (le) buf.writeBigUInt64LE(raw, offset);
      else buf.writeBigUInt64BE(raw, offset);
    } else if (le) buf.writeUInt32LE(Number(raw), offset);
    else buf.writeUInt32BE(Number(raw), offset);
  };

  const getMemlockLimit = (): NativeResult<Rlimit> => {
    const buf = Buffer.alloc(abi.rlimBytes * 2); // struct rlimit { rlim_cur; rlim_max; }
    if (c.getrlimit(abi.rlimitMemlock, buf) !== 0) return failed('getrlimit(RLIMIT_MEMLOCK)');
    return { ok: true, value: { soft: readRlim(buf, 0), hard: readRlim(buf, abi.rlimBytes) } };
  };

  return {
    implementation: 'koffi',
    loaded: true,
    getuid: () => c.getuid() as number,
    getgid: () => c.getgid() as number,
    getgroups(): number[] | undefined {
      const n = c.getgroups(0, null) as number;
      if (n < 0) return undefined;
      const buf = Buffer.alloc(Math.max(n, 1) * 4); // gid_t is 32-bit on every supported OS
      const got = c.getgroups(n, buf) as number;
      if (got < 0) return undefined;
      return Array.from({ length: got }, (_, i) => (le ? buf.readUInt32LE(i * 4) : buf.readUInt32BE(i * 4)));
    },

    getMemlockLimit,
    setMemlockLimit(limit: Rlimit): NativeResult<Rlimit> {
      const buf = Buffer.alloc(abi.rlimBytes * 2);
      writeRlim(buf, 0, limit.soft);
      writeRlim(buf, abi.rlimBytes, limit.hard);
      if (c.setrlimit(abi.rlimitMemlock, buf) !== 0) return failed('setrlimit(RLIMIT_MEMLOCK)');
      return getMemlockLimit();
    },

    kvmApiVersion(fd: number): NativeResult<number> {
      // The argument MUST be an explicit 0: the kernel answers EINVAL to any other value, and with
      // no variadic argument the register holds whatever the previous call left (QEMU passes 0 too).
      const r = c.ioctl(fd, KVM_GET_API_VERSION, 'unsigned long', 0) as number;
      return r < 0 ? failed('ioctl(KVM_GET_API_VERSION)') : { ok: true, value: r };
    },
    kvmCheckExtension(fd: number, cap: number): NativeResult<number> {
      // Passed as a full `long`: the kernel reads the whole register, so an `int` could leave
      // stale upper bits.
      const r = c.ioctl(fd, KVM_CHECK_EXTENSION, 'long', cap) as number;
      return r < 0 ? failed(`ioctl(KVM_CHECK_EXTENSION, ${cap})`) : { ok: true, value: r };
    },

    sysctlInt(name: string): NativeResult<number> {
      if (!c.sysctlbyname) return { ok: false, reason: `sysctl ${name} exists only on macOS and the BSDs` };
      const value = Buffer.alloc(8);
      const len = Buffer.alloc(8); // size_t in/out: buffer size, then bytes written
      len.writeBigUInt64LE(8n);
      if (c.sysctlbyname(name, value, len, null, 0) !== 0) return failed(`sysctlbyname(${name})`);
      const n = Number(len.readBigUInt64LE(0));
      if (n === 4) return { ok: true, value: value.readInt32LE(0) };
      if (n === 8) return { ok: true, value: Number(value.readBigInt64LE(0)) };
      return { ok: false, reason: `sysctlbyname(${name}) returned ${n} bytes, not an integer` };
    },

    lockExclusive(fd: number): FlockResult {
      if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return { state: 'acquired' };
      const e = lastErrno();
      if (e.num === koffi.os.errno.EWOULDBLOCK || e.num === koffi.os.errno.EAGAIN) return { state: 'held-by-other' };
      if (e.name === 'EBADF') throw new NativeCallError('flock(LOCK_EX|LOCK_NB)', e.name);
      // ENOLCK (NFS without lockd), EOPNOTSUPP/EINVAL (filesystems without flock).
      return { state: 'unsupported', reason: `flock refused on this file: ${e.name}` };
    },
    unlock(fd: number): NativeResult<void> {
      return c.flock(fd, LOCK_UN) === 0 ? { ok: true, value: undefined } : failed('flock(LOCK_UN)');
    },
  };
}
