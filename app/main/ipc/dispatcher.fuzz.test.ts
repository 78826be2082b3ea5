/**
 * Hostile input against the dispatcher in front of a real VmManager (temp XDG dirs, a host
 * without QEMU so nothing can spawn): 10 000 generated calls with wrong types, huge strings,
 * prototype-pollution keys, names of invisible or direction-changing characters, forward floods
 * and params nested up to 50 000 levels. Every call must come back as a result or a clear error — never a
 * crash, a hang, an `internal` error, or a polluted prototype.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CALLS } from '../common/contract.js';
import { VmdeskError } from '../common/errors.js';
import { vmNameProblem } from '../common/names.js';
import { paramsShapeProblem } from '../common/request-limits.js';
import { MAX_FORWARDS } from '../common/vm-types.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
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
    const paths = tempAppPaths(root);
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
      // Names that show as something else, or as nothing.
      () => pick(SPOOFS),
      () => `vm${pick(SPOOFS)}${Math.floor(rand() * 1000)}`,
      // Forward floods, and forwards sharing a host socket.
      () => forwards(Math.floor(rand() * 12_000)),
      () => [
        { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
        { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 2222, guestPort: 80 },
      ],
      // Nested deeper than anything real, up to 50 000 levels.
      () => nested(33 + Math.floor(rand() * 50_000)),
      () => 128.5,
      () => Number.POSITIVE_INFINITY,
    ];
    const SPOOFS = ['\u202e', '\u200b', '\ud800', '\udfff', '\u2066x', '\ufeff', '\u3164', 'a\u200db', '\u00a0'];
    const forwards = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ proto: 'tcp', hostPort: 1 + (i % 65535), guestPort: 22 }));
    const nested = (levels: number): unknown => {
      let o: unknown = 'bottom';
      for (let i = 0; i < levels; i++) o = rand() < 0.5 ? { a: o } : [o];
      return o;
    };
    // A define that would succeed but for one fuzzed field: reaches the checks behind the schema.
    const plausibleDefine = (): unknown => ({
      name: rand() < 0.5 ? `vm${pick(SPOOFS)}` : `ok-${Math.floor(rand() * 1e9)}`,
      memoryMiB: pick([64, 128.5, 16, 8]),
      cpus: 1,
      ...(rand() < 0.5 ? { forwards: rand() < 0.5 ? forwards(1 + Math.floor(rand() * 80)) : pick(atoms)() } : {}),
    });
    const value = (depth: number): unknown => {
      if (depth > 2 || rand() < 0.6) return pick(atoms)();
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rand() * 4); i > 0; i--) o[pick(keys)] = value(depth + 1);
      return o;
    };
    const params = (): unknown => {
      // Half the time a JSON round trip, so "__proto__" arrives as a real own key, as from a socket.
      const v = value(0);
      // (Not for values nested deeper than JSON.stringify itself can go: those arrive as they are.)
      if (rand() < 0.5 && paramsShapeProblem(v) === undefined) return JSON.parse(JSON.stringify(v) ?? 'null');
      return v;
    };

    const codes = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const r =
        rand() < 0.1 ? await d.dispatch('vm.define', plausibleDefine()) : await d.dispatch(pick(methods), params());
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
    // Everything the fuzzer managed to define is a VM another driver can load: nothing valid to
    // define is unloadable (names, forward counts and overlaps, file size all within the loader's rules).
    const again = new VmManager(paths, new NoQemuHost());
    await again.init();
    const reloaded = again.list();
    expect(reloaded.filter((vm) => vm.state === 'broken').map((vm) => vm.reason)).toEqual([]);
    for (const vm of reloaded) {
      expect(vmNameProblem(vm.name), JSON.stringify(vm.name)).toBeUndefined();
      expect(vm.definition!.network.forwards.length).toBeLessThanOrEqual(MAX_FORWARDS);
    }
    expect(reloaded.length).toBeGreaterThan(1);
    console.log(`dispatcher fuzz: ${JSON.stringify(Object.fromEntries(codes))}`);
  }, 120_000);
});
