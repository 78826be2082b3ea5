import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostReport } from '../common/host-types.js';
import type { ProvisionalHost } from '../host/probe-host.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import { resolveAppPaths } from '../paths/app-paths.js';
import { createHostServices } from './host-adapter.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-host-adapter-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const paths = resolveAppPaths({ env: { HOME: root }, platform: 'linux', home: root, uid: 1000, tmpdir: root });

/** Provisional facts as probeHost gives them: the x86_64 QEMU with assumed caps, TCG usable. */
function facts(): ProvisionalHost {
  const caps = fakeQemuCaps({ binary: '/usr/bin/qemu-system-x86_64', accels: ['kvm', 'tcg'] });
  return {
    arch: 'x86_64',
    qemu: {
      x86_64: { arch: 'x86_64', status: 'ok', caps, fromCache: false },
      aarch64: { arch: 'aarch64', status: 'missing', reason: 'still being probed', fix: '', searched: [] },
    },
    accels: { x86_64: [{ accel: 'tcg', available: true, reason: 'TCG works everywhere' }], aarch64: [] },
    firmware: { images: [], missing: [], problems: [], searchedDirs: [] },
    swtpm: { path: null },
    virtiofsd: { path: null },
  };
}

describe('createHostServices().provisional', () => {
  it('answers from the provisional facts while the probe runs, and with nothing once it has answered', async () => {
    let finish!: (r: HostReport) => void;
    const host = createHostServices(paths, (hooks) => {
      hooks.provisional?.(facts());
      return new Promise<HostReport>((r) => (finish = r));
    });
    const early = await host.provisional!('x86_64');
    expect(await early?.qemuCaps('x86_64')).toMatchObject({ binary: '/usr/bin/qemu-system-x86_64' });
    expect(await early?.chooseAccel('auto', await early!.qemuCaps('x86_64'))).toMatchObject({ accel: 'tcg' });
    expect(await host.provisional!('aarch64')).toBeUndefined(); // nothing assumed for that one
    finish({ ...facts(), schema: 3 } as unknown as HostReport);
    await host.report();
    expect(await host.provisional!('x86_64')).toBeUndefined();
  });

  it('leaves no unhandled rejection when the probe it starts fails', async () => {
    const host = createHostServices(paths, async () => {
      throw new Error('probe blew up');
    });
    const unhandled: unknown[] = [];
    const on = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', on);
    try {
      expect(await host.provisional!('x86_64')).toBeUndefined();
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', on);
    }
    expect(unhandled).toEqual([]);
    await expect(host.report()).rejects.toThrow('probe blew up'); // asked again, it says so
  });
});
