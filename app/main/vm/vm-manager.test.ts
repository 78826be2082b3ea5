/**
 * VmManager against faults a real QEMU cannot produce on demand: a "QEMU" that hangs before it
 * opens its control socket (a fake binary: a shell script that only sleeps). Everything that a
 * real QEMU can show is tested against real QEMU in e2e/driver.int.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import { resolveAppPaths, type AppPaths } from '../paths/app-paths.js';
import { pidExists } from '../qemu/process.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';

let roots: string[] = [];
afterEach(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  roots = [];
});

function setup(opts: { startTimeoutMs: number }): { m: VmManager; paths: AppPaths; pidFile: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmm-'));
  roots.push(root);
  // The fake records its pid, then hangs like a QEMU stuck before creating its QMP socket.
  const pidFile = path.join(root, 'fake.pid');
  const fake = path.join(root, 'qemu-system-x86_64');
  fs.writeFileSync(fake, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 600\n`, { mode: 0o755 });
  const env = {
    XDG_CONFIG_HOME: `${root}/c`,
    XDG_DATA_HOME: `${root}/d`,
    XDG_STATE_HOME: `${root}/s`,
    XDG_CACHE_HOME: `${root}/k`,
    XDG_RUNTIME_DIR: `${root}/r`,
  };
  const paths = resolveAppPaths({ env, platform: 'linux', home: root, uid: process.getuid!(), tmpdir: root });
  const m = new VmManager(paths, new FakeHost(fake), { startTimeoutMs: opts.startTimeoutMs, rungTimeoutMs: 500 });
  return { m, paths, pidFile };
}

async function readPid(file: string): Promise<number> {
  for (;;) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim()) return Number(fs.readFileSync(file, 'utf8'));
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('VmManager faults', () => {
  it('fails a start whose QEMU never opens its control socket, stops that process and leaves nothing behind', async () => {
    const { m, paths, pidFile } = setup({ startTimeoutMs: 300 });
    await m.init();
    await m.define({ name: 'hung', memoryMiB: 64, cpus: 1 });
    const changes: VmSummary['state'][] = [];
    m.events.on('vm.changed', (s) => changes.push(s.state));
    const err = await m.start({ vm: 'hung' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmdeskError);
    expect((err as VmdeskError).code).toBe('qemu-failed');
    expect((err as VmdeskError).message).toMatch(/QEMU did not become ready for "hung".*it was stopped/);
    expect(pidExists(await readPid(pidFile))).toBe(false);
    expect(m.get('hung').state).toBe('stopped');
    expect(changes[0]).toBe('starting');
    expect(changes.at(-1)).toBe('stopped');
    expect(fs.readdirSync(path.join(paths.state, 'run'))).toEqual([]);
    expect(fs.readdirSync(paths.runtime)).toEqual([]); // the VM's socket dir is gone
  });

  it('lets force off cancel a start that is still waiting for QEMU', async () => {
    const { m, pidFile } = setup({ startTimeoutMs: 60_000 });
    await m.init();
    await m.define({ name: 'slow', memoryMiB: 64, cpus: 1 });
    const starting = m.start({ vm: 'slow' }).catch((e: unknown) => e);
    const pid = await readPid(pidFile);
    expect(m.get('slow').state).toBe('starting');
    // A second start and a vGPU change queue behind the start (the job lock); force off cancels
    // them with the start, so none of them runs after the VM is off.
    const secondStart = m.start({ vm: 'slow' }).catch((e: unknown) => e);
    const mtty = { uuid: '0d2c4e6f-8a1b-4c3d-9e5f-a7b9c1d3e5f7', parent: 'mtty', type: 'mtty-1', display: false };
    const mdevChange = m.updateMdevs('slow', () => [mtty]).catch((e: unknown) => e);
    const stopped = await m.stop({ vm: 'slow' });
    expect(stopped.state).toBe('stopped');
    const err = await starting;
    expect((err as VmdeskError).code).toBe('cancelled');
    expect(pidExists(pid)).toBe(false);
    expect(await secondStart).toMatchObject({
      code: 'cancelled',
      message: 'start of "slow" was cancelled: the VM is being forced off.',
    });
    expect(await mdevChange).toMatchObject({ code: 'cancelled' });
    expect(m.get('slow')).toMatchObject({ state: 'stopped', definition: { mdevs: [] } });
  });
});
