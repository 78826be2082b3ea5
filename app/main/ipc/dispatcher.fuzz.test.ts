/**
 * Hostile input against the dispatcher in front of a real VmManager (temp XDG dirs, a host
 * without QEMU so nothing can spawn): 10 000 generated calls with wrong types, huge strings and
 * prototype-pollution keys. Every call must come back as a result or a clear error — never a
 * crash, a hang, an `internal` error, or a polluted prototype.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CALLS } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { resolveAppPaths } from '../paths/app-paths.js';
import { NoQemuHost } from '../vm/testing/no-qemu-host.js';
import { VmManager } from '../vm/vm-manager.js';
import { createDispatcher, managerHandlers } from './dispatcher.js';
import { prng } from '../testing/prng.js';
import { createMdevService } from '../mdev/service.js';
import { getNative } from '../../native/index.js';
import { fakeRun } from '../host/testing/fakes.js';

const SEED = Number(process.env.VMDESK_FUZZ_SEED ?? 4242);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('dispatcher under hostile input', () => {
  it(`answers 10 000 generated calls with a result or a clear error (seed ${SEED})`, async () => {
    const env = {
      XDG_CONFIG_HOME: `${root}/c`,
      XDG_DATA_HOME: `${root}/d`,
      XDG_STATE_HOME: `${root}/s`,
      XDG_CACHE_HOME: `${root}/k`,
      XDG_RUNTIME_DIR: `${root}/r`,
    };
    const paths = resolveAppPaths({ env, platform: 'linux', home: root, uid: process.getuid!(), tmpdir: root });
    const m = new VmManager(paths, new NoQemuHost());
    await m.init();
    await m.define({ name: 'target', memoryMiB: 64, cpus: 1 });
    // mdev.* calls reach a real service over an empty sysfs tree; with no pkexec, a privileged step
    // can only come back as the command to paste (nothing here may ever run as root).
    const mdev = createMdevService({
      env: { VMDESK_SYSFS_ROOT: `${root}/sysfs`, VMDESK_DEV_ROOT: `${root}/sysfs`, VMDESK_ETC_ROOT: `${root}/sysfs` },
      native: getNative(),
      run: fakeRun({}),
      listVms: async () => m.list(),
      getVm: async (ref) => m.get(ref),
      updateMdevs: (ref, change) => m.updateMdevs(ref, change),
      qemuCaps: async () => {
        throw new VmdeskError('no-qemu', 'No QEMU in this test.');
      },
      privileged: () => ({
        helper: '/nonexistent/vmdesk-mdev-helper',
        pkexec: undefined,
        run: async () => {
          throw new Error('must not run');
        },
      }),
    });
    const d = createDispatcher(
      managerHandlers(
        m,
        async () => {
          throw new VmdeskError('unsupported', 'No host report in this test.');
        },
        mdev,
      ),
    );

    const rand = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const methods = [...Object.keys(CALLS), 'vm.nope', '__proto__', 'constructor', 'toString', '', 'vm.list.x'];
    const keys = [
      'vm',
      'parent',
      'type',
      'uuid',
      'assignments',
      'name',
      'memoryMiB',
      'cpus',
      'disk',
      'cdrom',
      'forwards',
      'wait',
      'timeoutMs',
      'keepDisks',
      'accel',
      '__proto__',
      'constructor',
      'prototype',
    ];
    const atoms: (() => unknown)[] = [
      () => 'target',
      () => 'x'.repeat(Math.floor(rand() * 200_000)),
      () => '../../etc/passwd',
      () => '\u0000\u202e',
      () => -1,
      () => 0,
      () => 1e308,
      () => Number.NaN,
      () => null,
      () => true,
      () => [],
      () => ({}),
      () => ({ __proto__: { polluted: true } }),
      () => '🙂'.repeat(100),
      () => ({ sizeBytes: -5 }),
      () => ({ path: '/dev/zero' }),
      () => [{ proto: 'tcp', hostPort: 1, guestPort: 1, hostAddr: '1.2.3.4,guestfwd=x' }],
    ];
    const value = (depth: number): unknown => {
      if (depth > 2 || rand() < 0.6) return pick(atoms)();
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 4); i > 0; i--) o[pick(keys)] = value(depth + 1);
      return o;
    };
    const params = (): unknown => {
      // Half the time a JSON round trip, so "__proto__" arrives as a real own key, as from a socket.
      const v = value(0);
      return rand() < 0.5 ? JSON.parse(JSON.stringify(v) ?? 'null') : v;
    };

    const codes = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const r = await d.dispatch(pick(methods), params());
      if (r.ok) {
        codes.set('ok', (codes.get('ok') ?? 0) + 1);
        continue;
      }
      expect(r.error.code, `call ${i} failed internally: ${r.error.message}`).not.toBe('internal');
      expect(r.error.message.length).toBeGreaterThan(10);
      expect(r.error.message.length, r.error.message.slice(0, 300)).toBeLessThan(2000);
      codes.set(r.error.code, (codes.get(r.error.code) ?? 0) + 1);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    // The VM the fuzzer aimed at is still there and intact, or was deleted by a valid call.
    const list = m.list();
    for (const vm of list) expect(vm.state === 'stopped' || vm.state === 'broken').toBe(true);
    expect(codes.get('invalid-argument')).toBeGreaterThan(1000);
    console.log(`dispatcher fuzz: ${JSON.stringify(Object.fromEntries(codes))}`);
  }, 120_000);
});
