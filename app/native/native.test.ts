import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFallbackNative,
  createKoffiNative,
  KVM_API_VERSION,
  KVM_CAP_USER_MEMORY,
  loadNative,
  parseProcMemlock,
} from './index.js';
import type { NativeHost } from './index.js';

const isLinux = process.platform === 'linux';

function tryOpen(p: string, flags: string): number | undefined {
  try {
    return openSync(p, flags);
  } catch {
    return undefined;
  }
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vmdesk-native-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the koffi NativeHost on this machine', () => {
  let native: NativeHost;
  beforeAll(() => {
    native = createKoffiNative();
  });

  it('loads and says so', () => {
    expect(native.implementation).toBe('koffi');
    expect(native.loaded).toBe(true);
    expect(native.loadError).toBeUndefined();
  });

  it('returns the same uid, gid and groups as Node', () => {
    expect(native.getuid()).toBe(process.getuid?.());
    expect(native.getgid()).toBe(process.getgid?.());
    // Node always adds the effective gid to getgroups() (its docs say so); libc does not.
    const withEgid = new Set([...(native.getgroups() ?? []), process.getegid?.()]);
    expect([...withEgid].sort()).toEqual([...new Set(process.getgroups?.())].sort());
  });

  it.runIf(isLinux)('reads the same memlock limit as /proc/self/limits', () => {
    const fromProc = parseProcMemlock(readFileSync('/proc/self/limits', 'utf8'));
    expect(native.getMemlockLimit()).toEqual({ ok: true, value: fromProc });
  });

  it('lowers the soft memlock limit and raises it back to the hard limit', () => {
    const before = native.getMemlockLimit();
    if (!before.ok) throw new Error(before.reason);
    const { hard } = before.value;
    try {
      const lowered = native.setMemlockLimit({ soft: 64 * 1024, hard });
      expect(lowered).toEqual({ ok: true, value: { soft: 64 * 1024, hard } });
      expect(native.setMemlockLimit({ soft: hard, hard })).toEqual({ ok: true, value: { soft: hard, hard } });
    } finally {
      native.setMemlockLimit(before.value);
    }
  });

  it('refuses a soft limit above the hard limit with EINVAL', () => {
    const before = native.getMemlockLimit();
    if (!before.ok || before.value.hard === 'unlimited') return;
    const r = native.setMemlockLimit({ soft: before.value.hard + 4096, hard: before.value.hard });
    expect(r).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  it('acquires an exclusive flock, then sees it held by a second open of the same file', () => {
    const file = path.join(dir, 'owner.lock');
    writeFileSync(file, '');
    // Two openSync calls = two open file descriptions, so they conflict even in one process.
    const a = openSync(file, 'r+');
    const b = openSync(file, 'r+');
    try {
      expect(native.lockExclusive(a)).toEqual({ state: 'acquired' });
      expect(native.lockExclusive(b)).toEqual({ state: 'held-by-other' });
      expect(native.unlock(a)).toEqual({ ok: true, value: undefined });
      expect(native.lockExclusive(b)).toEqual({ state: 'acquired' });
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });

  it('releases the flock when the fd is closed', () => {
    const file = path.join(dir, 'close.lock');
    writeFileSync(file, '');
    const a = openSync(file, 'r+');
    expect(native.lockExclusive(a)).toEqual({ state: 'acquired' });
    closeSync(a);
    const b = openSync(file, 'r+');
    try {
      expect(native.lockExclusive(b)).toEqual({ state: 'acquired' });
    } finally {
      closeSync(b);
    }
  });

  it('reports ENOTTY when KVM ioctls are sent to a file that is not /dev/kvm', () => {
    const file = path.join(dir, 'not-kvm');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    try {
      expect(native.kvmApiVersion(fd)).toMatchObject({ ok: false, errno: 'ENOTTY' });
    } finally {
      closeSync(fd);
    }
  });

  const kvmFd = isLinux ? tryOpen('/dev/kvm', 'r+') : undefined;
  if (kvmFd === undefined)
    console.warn('[native.test] /dev/kvm cannot be opened read-write here: skipping the real KVM ioctl test');
  it.skipIf(kvmFd === undefined)('reads KVM API version 12 and KVM_CAP_USER_MEMORY from /dev/kvm', () => {
    try {
      expect(native.kvmApiVersion(kvmFd!)).toEqual({ ok: true, value: KVM_API_VERSION });
      const cap = native.kvmCheckExtension(kvmFd!, KVM_CAP_USER_MEMORY);
      expect(cap.ok && cap.value > 0).toBe(true);
      // Regression: a variadic ioctl without an explicit argument inherited the previous call's
      // register (3 here) and the kernel answered EINVAL.
      expect(native.kvmApiVersion(kvmFd!)).toEqual({ ok: true, value: KVM_API_VERSION });
    } finally {
      closeSync(kvmFd!);
    }
  });

  it.runIf(isLinux)('says sysctl is not a Linux thing', () => {
    expect(native.sysctlInt('kern.hv_support')).toMatchObject({ ok: false });
  });
});

describe('the fallback NativeHost', () => {
  const native = createFallbackNative({ loadError: 'koffi exploded' });

  it('says it is not loaded and why', () => {
    expect(native).toMatchObject({ implementation: 'fallback', loaded: false, loadError: 'koffi exploded' });
  });

  it('still knows the uid, gid and groups from Node', () => {
    expect(native.getuid()).toBe(process.getuid?.());
    expect(native.getgid()).toBe(process.getgid?.());
    expect(native.getgroups()).toEqual(process.getgroups?.());
  });

  it.runIf(isLinux)('reads the memlock limit from /proc/self/limits', () => {
    const expected = parseProcMemlock(readFileSync('/proc/self/limits', 'utf8'));
    expect(native.getMemlockLimit()).toEqual({ ok: true, value: expected });
  });

  it('says reading memlock is impossible when /proc/self/limits cannot be read', () => {
    const noProc = createFallbackNative({
      platform: 'linux',
      readTextFile: () => {
        throw new Error('ENOENT: no such file');
      },
    });
    expect(noProc.getMemlockLimit()).toMatchObject({ ok: false, reason: expect.stringContaining('/proc/self/limits') });
  });

  it('cannot set limits, send ioctls or flock, and says the native layer is why', () => {
    expect(native.setMemlockLimit({ soft: 1, hard: 1 })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('koffi exploded'),
    });
    expect(native.kvmApiVersion(0)).toMatchObject({ ok: false, reason: expect.stringContaining('koffi exploded') });
    expect(native.lockExclusive(0)).toEqual({
      state: 'unsupported',
      reason: expect.stringContaining('koffi exploded'),
    });
  });

  it('reads macOS sysctls through the sysctl command', () => {
    const mac = createFallbackNative({
      platform: 'darwin',
      runSync: (file, args) => (file === '/usr/sbin/sysctl' && args[1] === 'kern.hv_support' ? '1\n' : ''),
    });
    expect(mac.sysctlInt('kern.hv_support')).toEqual({ ok: true, value: 1 });
  });
});

describe('loadNative', () => {
  it('falls back to pure JS with the reason when koffi cannot be loaded', () => {
    const native = loadNative({
      requireKoffi: () => {
        throw new Error("Cannot find module 'koffi'\nRequire stack: ...");
      },
    });
    expect(native).toMatchObject({
      implementation: 'fallback',
      loaded: false,
      loadError: "Cannot find module 'koffi'",
    });
    expect(native.getuid()).toBe(process.getuid?.());
  });

  it('falls back when there are no libc bindings for the platform', () => {
    const native = loadNative({ platform: 'win32' });
    expect(native.loadError).toBe('no libc bindings for platform win32');
  });
});

describe('parseProcMemlock', () => {
  it('reads numbers and "unlimited"', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         65536                unlimited            bytes     \n';
    expect(parseProcMemlock(text)).toEqual({ soft: 65536, hard: 'unlimited' });
  });

  it('returns undefined when the row is missing', () => {
    expect(parseProcMemlock('Max open files 1024 1024 files\n')).toBeUndefined();
  });
});
