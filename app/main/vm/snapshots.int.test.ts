/**
 * Going back to a live snapshot on the real QEMU of this machine (TCG), in process: QEMU's own
 * snapshot-load stops the guest, loads, and lets it run again when it ran before, so vmdesk adds a
 * `stop` only to land on a paused snapshot and a `cont` only to leave a paused VM running. The VM
 * is a default desktop one, so its shared clipboard (which QEMU 7.2 cannot save) is unplugged
 * around each save and load and must be back after. The run state is read from QEMU itself
 * (query-status), not from vmdesk's summary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestIso } from '../../../e2e/support/cli.js';
import { resolveAppPaths } from '../paths/app-paths.js';
import { QmpClient } from '../qemu/qmp-client.js';
import { createHostServices } from './host-adapter.js';
import { VmManager } from './vm-manager.js';

const accel = process.env.VMDESK_ACCEL;
let root: string;
/** Every command the driver sent, in order, and the clients that sent them (wraps QmpClient.execute). */
const sent: string[] = [];
const clients = new Set<QmpClient>();
const original = QmpClient.prototype.execute;
beforeAll(() => {
  process.env.VMDESK_ACCEL = 'tcg'; // KVM hangs guests on these machines
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-snap-int-'));
  QmpClient.prototype.execute = function (this: QmpClient, command: string, ...rest: unknown[]) {
    clients.add(this);
    sent.push(command);
    return (original as (this: QmpClient, ...a: unknown[]) => Promise<unknown>).call(this, command, ...rest);
  } as typeof original;
});
afterAll(() => {
  QmpClient.prototype.execute = original;
  if (accel === undefined) delete process.env.VMDESK_ACCEL;
  else process.env.VMDESK_ACCEL = accel;
  fs.rmSync(root, { recursive: true, force: true });
});

/** What the driver sent from now until `fn` returned, without query-jobs (asked once a job ended). */
async function commandsOf(fn: () => Promise<unknown>): Promise<string[]> {
  const from = sent.length;
  await fn();
  return sent.slice(from).filter((c) => c !== 'query-jobs');
}

describe('going back to a live snapshot (real QEMU)', () => {
  it('lands in the state the snapshot was taken in, with a stop or cont of its own only when QEMU’s load would not', async () => {
    const paths = resolveAppPaths({
      env: { HOME: root, XDG_RUNTIME_DIR: path.join(root, 'run') },
      platform: process.platform,
      home: root,
      uid: process.getuid?.() ?? 0,
      tmpdir: os.tmpdir(),
    });
    fs.mkdirSync(path.join(root, 'run'), { mode: 0o700 });
    const m = new VmManager(paths, createHostServices(paths));
    try {
      await m.init();
      const vm = await m.define({
        name: 'snap',
        memoryMiB: 128,
        cpus: 1,
        cdrom: guestIso(),
        disk: { sizeBytes: 2 ** 26 },
      });
      expect(m.get(vm.id).definition!.clipboard).toBe(true);
      await m.start({ vm: vm.id });
      // The VM's QEMU is the only one this driver talks QMP to.
      const [client] = [...clients];
      const status = async () => (await client!.execute<{ status: string }>('query-status')).status;
      const clipboardPlugged = async () =>
        (await client!.execute<{ name: string }[]>('qom-list', { path: '/machine/peripheral' })).some(
          (p) => p.name === 'vdagent0port',
        );

      await m.snapshotCreate({ vm: vm.id, name: 'ran' });
      await m.pause({ vm: vm.id });
      await m.snapshotCreate({ vm: vm.id, name: 'held' });
      await m.resume({ vm: vm.id });
      expect(await clipboardPlugged()).toBe(true);

      // Running, back to a running snapshot: QEMU's load stops and resumes the guest by itself.
      const toRan = await commandsOf(async () =>
        expect(await m.snapshotRevert({ vm: vm.id, name: 'ran' })).toMatchObject({ state: 'running' }),
      );
      expect(toRan).toContain('snapshot-load');
      expect(toRan).not.toContain('stop');
      expect(toRan).not.toContain('cont');
      expect(await status()).toBe('running');
      expect(await clipboardPlugged()).toBe(true);

      // Running, back to a paused snapshot: paused first, so the load does not resume it.
      const toHeld = await commandsOf(async () =>
        expect(await m.snapshotRevert({ vm: vm.id, name: 'held' })).toMatchObject({ state: 'paused' }),
      );
      expect(toHeld.indexOf('stop')).toBeGreaterThanOrEqual(0);
      expect(toHeld.indexOf('stop')).toBeLessThan(toHeld.indexOf('snapshot-load'));
      expect(toHeld).not.toContain('cont');
      expect(await status()).toBe('paused');

      // Paused, back to a running snapshot: the load leaves it paused, so it is let go after.
      const fromHeld = await commandsOf(async () =>
        expect(await m.snapshotRevert({ vm: vm.id, name: 'ran' })).toMatchObject({ state: 'running' }),
      );
      expect(fromHeld).not.toContain('stop');
      expect(fromHeld.indexOf('cont')).toBeGreaterThan(fromHeld.indexOf('snapshot-load'));
      expect(await status()).toBe('running');
      expect(await clipboardPlugged()).toBe(true);

      await m.stop({ vm: vm.id });
    } finally {
      await m.detachAll();
    }
  });
});
