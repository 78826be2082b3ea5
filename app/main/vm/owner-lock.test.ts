import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFallbackNative, getNative } from '../../native/index.js';
import type { NativeHost } from '../../native/index.js';
import { readOwnerInfo, tryAcquireOwnerLock } from './owner-lock.js';
import type { LockOutcome, OwnerInfo, OwnerLock } from './owner-lock.js';

/** Above the largest pid_max Linux allows (2^22), so no process can have it. */
const NEVER_A_PID = 2 ** 22 + 1;

let dir: string;
let file: string;
const held: OwnerLock[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-lock-'));
  file = path.join(dir, 'driver.lock');
});
afterEach(() => {
  for (const l of held.splice(0)) l.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

function acquire(native: NativeHost, controlSocket = '/run/vmdesk/control.sock'): LockOutcome {
  const r = tryAcquireOwnerLock(file, { kind: 'driver', controlSocket }, native);
  if (r.owned) held.push(r.lock);
  return r;
}

function owned(r: LockOutcome): OwnerLock {
  if (!r.owned) throw new Error(`expected to own the lock; owner is ${JSON.stringify(r.owner)}`);
  return r.lock;
}

describe('tryAcquireOwnerLock with flock (the native layer)', () => {
  const native = getNative();

  it('runs on the real native layer', () => {
    expect(native.implementation, native.loadError).toBe('koffi');
  });

  it('makes the first caller the owner and records who it is', () => {
    const lock = owned(acquire(native, '/run/a/control.sock'));
    expect(lock.path).toBe(file);
    expect(lock.info).toMatchObject({ pid: process.pid, kind: 'driver', controlSocket: '/run/a/control.sock' });
    expect(readOwnerInfo(file)).toEqual(lock.info);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('reports no fallback when flock works', () => {
    const r = acquire(native);
    expect(r).toMatchObject({ owned: true, fallbackReason: undefined });
  });

  it('refuses a second open of the lock file, even in the same process, and names the owner', () => {
    const first = owned(acquire(native, '/run/a/control.sock'));
    const second = acquire(native, '/run/b/control.sock');
    expect(second).toEqual({ owned: false, owner: first.info });
    // The failed attempt closed its own fd; the first still holds the lock.
    expect(acquire(native).owned).toBe(false);
  });

  it('can be taken again after release, and release clears the owner info', () => {
    const first = owned(acquire(native, '/run/a/control.sock'));
    first.release();
    expect(fs.readFileSync(file, 'utf8')).toBe('');
    const again = owned(acquire(native, '/run/b/control.sock'));
    expect(again.info.controlSocket).toBe('/run/b/control.sock');
    expect(readOwnerInfo(file)?.controlSocket).toBe('/run/b/control.sock');
  });

  it('does not mind being released twice', () => {
    const lock = owned(acquire(native));
    lock.release();
    expect(() => lock.release()).not.toThrow();
  });

  it('takes over a lock file left by an owner that died, whatever it says', () => {
    const stale: OwnerInfo = {
      pid: 1,
      kind: 'app',
      controlSocket: '/run/old/control.sock',
      startedAt: '2020-01-01T00:00:00.000Z',
    };
    fs.writeFileSync(file, JSON.stringify(stale) + '\n'.repeat(200));
    const lock = owned(acquire(native, '/run/new/control.sock'));
    expect(readOwnerInfo(file)).toEqual(lock.info);
  });
});

describe('tryAcquireOwnerLock without flock (the pid fallback)', () => {
  const native = createFallbackNative({ loadError: 'test' });

  function plantOwner(pid: number): OwnerInfo {
    const info: OwnerInfo = {
      pid,
      kind: 'app',
      controlSocket: '/run/other/control.sock',
      startedAt: '2025-01-01T00:00:00.000Z',
    };
    fs.writeFileSync(file, JSON.stringify(info) + '\n');
    return info;
  }

  it('owns a fresh lock file and says why it fell back', () => {
    const r = acquire(native);
    expect(r.owned).toBe(true);
    expect(r.owned && r.fallbackReason).toMatch(/flock.*native layer not loaded: test/);
  });

  it('refuses while the recorded owner (pid 1) is alive and not us', () => {
    const other = plantOwner(1);
    expect(acquire(native)).toEqual({ owned: false, owner: other });
    expect(readOwnerInfo(file)).toEqual(other);
  });

  it('takes over when the recorded owner is dead', () => {
    plantOwner(NEVER_A_PID);
    const lock = owned(acquire(native, '/run/new/control.sock'));
    expect(readOwnerInfo(file)).toEqual(lock.info);
  });

  it('takes over a lock file that names this very process', () => {
    plantOwner(process.pid);
    expect(acquire(native).owned).toBe(true);
  });
});
