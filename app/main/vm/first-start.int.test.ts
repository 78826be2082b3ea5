/**
 * A driver's first start, with an empty capability cache, on the real QEMU of this machine: QEMU
 * is launched paused on the assumed caps while the probe runs, and kept because the caps the
 * probe then finds give the same command line. The probe is the real one; it is only held back
 * (its answers are read once the VM's QEMU exists), so the order is the same on any machine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestIso } from '../../../e2e/support/cli.js';
import { nodeHostIo } from '../host/node-host-io.js';
import { probeHost } from '../host/probe-host.js';
import type { SpawnQmp } from '../host/host-io.js';
import { resolveAppPaths } from '../paths/app-paths.js';
import { vmFiles } from '../paths/vm-files.js';
import { createHostServices } from './host-adapter.js';
import { VmManager } from './vm-manager.js';

const accel = process.env.VMDESK_ACCEL;
let root: string;
beforeAll(() => {
  process.env.VMDESK_ACCEL = 'tcg'; // KVM hangs guests on these machines
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-first-start-'));
});
afterAll(() => {
  if (accel === undefined) delete process.env.VMDESK_ACCEL;
  else process.env.VMDESK_ACCEL = accel;
  fs.rmSync(root, { recursive: true, force: true });
});

describe("a driver's first start on this machine's QEMU", () => {
  it('launches QEMU while the probe runs and keeps it: the probed caps give the same command line', async () => {
    const paths = resolveAppPaths({
      env: { HOME: root, XDG_RUNTIME_DIR: path.join(root, 'run') },
      platform: process.platform,
      home: root,
      uid: process.getuid?.() ?? 0,
      tmpdir: os.tmpdir(),
    });
    fs.mkdirSync(path.join(root, 'run'), { mode: 0o700 });
    let runRecord = '';
    let probeHeldUntilSpawn = false;
    // The probe QEMU starts at once; what it is asked waits until the VM's QEMU has been spawned.
    const heldQmp: SpawnQmp = (binary, args) => {
      const proc = nodeHostIo.spawnQmp(binary, args);
      const queued: string[] = [];
      let open = false;
      const timer = setInterval(() => {
        if (!runRecord || !fs.existsSync(runRecord)) return;
        clearInterval(timer);
        probeHeldUntilSpawn = true;
        open = true;
        for (const line of queued.splice(0)) proc.write(line);
      }, 2);
      return { ...proc, write: (line) => (open ? proc.write(line) : void queued.push(line)) };
    };
    const host = createHostServices(paths, (hooks) =>
      probeHost({ cacheDir: paths.cache, io: { ...nodeHostIo, spawnQmp: heldQmp }, ...hooks }),
    );
    const m = new VmManager(paths, host);
    try {
      const prewarm = host.report(); // as a driver does when it starts
      await m.init();
      const vm = await m.define({ name: 'first', memoryMiB: 256, cpus: 1, cdrom: guestIso(), sound: false });
      const files = vmFiles(paths, vm.id);
      runRecord = files.runRecord;
      const started = await m.start({ vm: vm.id });
      expect(probeHeldUntilSpawn).toBe(true);
      expect(started).toMatchObject({ state: 'running', accel: { accel: 'tcg' } });
      const log = fs.readFileSync(files.driverLog, 'utf8');
      expect(log.match(/spawned QEMU pid/g)).toHaveLength(1);
      expect(log).not.toMatch(/starting QEMU again|refused the command line/);
      // Confined as the probe says this QEMU can be: the assumption held.
      expect(fs.readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0')).toContain('-sandbox');
      const report = await prewarm;
      expect(report.qemu.x86_64).toMatchObject({ status: 'ok', fromCache: false, caps: { sandbox: true } });
      // A second start of this driver assumes nothing: the caps are known now.
      expect(await host.provisional?.('x86_64')).toBeUndefined();
      await m.stop({ vm: vm.id });
    } finally {
      await m.detachAll().catch(() => undefined);
      for (const s of m.list()) if (s.pid) process.kill(s.pid, 'SIGKILL');
    }
  });
});
