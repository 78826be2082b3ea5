/**
 * vm.update through a real VmManager (temp XDG dirs, the in-process fake QEMU): what a change
 * writes, what a running VM defers to its next start, and every refusal leaving the file as it was.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../common/vm-types.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';

const roots: string[] = [];
const managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.detachAll();
});
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

async function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  const launcher = new FakeQemuLauncher();
  const m = new VmManager(paths, new FakeHost(), { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000 });
  managers.push(m);
  await m.init();
  const vm = await m.define({ name: 'web', memoryMiB: 64, cpus: 1 });
  const changed: VmSummary[] = [];
  m.events.on('vm.changed', (s) => changed.push(s));
  return { m, launcher, vm, changed };
}

const arg = (argv: readonly string[], flag: string) => argv[argv.indexOf(flag) + 1];
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );

describe('vm.update', () => {
  it('changes memory and CPUs of a stopped VM; its next start uses them', async () => {
    const { m, launcher, vm } = await setup();
    const after = await m.update({ vm: 'web', revision: vm.revision, memoryMiB: 128, cpus: 2 });
    expect(after.definition).toMatchObject({ memoryMiB: 128, cpus: 2 });
    expect(after.revision).toBeDefined();
    expect(after.revision).not.toBe(vm.revision);
    expect(JSON.parse(fs.readFileSync(vm.file, 'utf8'))).toMatchObject({ memoryMiB: 128, cpus: 2 });
    await m.start({ vm: 'web' });
    expect(arg(launcher.last.argv, '-m')).toBe('size=128M');
    expect(arg(launcher.last.argv, '-smp')).toBe('2');
  });

  it('refuses a change made against an older revision, and writes nothing', async () => {
    const { m, vm } = await setup();
    await m.update({ vm: 'web', revision: vm.revision, memoryMiB: 128 });
    const before = fs.readFileSync(vm.file, 'utf8');
    const err = await rejection(m.update({ vm: 'web', revision: vm.revision, cpus: 2 }));
    expect(err).toMatchObject({
      code: 'invalid-state',
      message: expect.stringMatching(/was changed since you opened it/),
    });
    expect(fs.readFileSync(vm.file, 'utf8')).toBe(before);
  });

  it('renames (the id and files stay), refuses a taken or invisible name, and tells every window', async () => {
    const { m, vm, changed } = await setup();
    await m.define({ name: 'db', memoryMiB: 64, cpus: 1 });
    expect(await rejection(m.update({ vm: 'web', name: 'DB ' }))).toMatchObject({ code: 'invalid-argument' });
    expect(await rejection(m.update({ vm: 'web', name: 'db' }))).toMatchObject({
      code: 'name-taken',
      details: { field: 'name' },
    });
    expect(await rejection(m.update({ vm: 'web', name: 'w\u200be' }))).toMatchObject({ details: { field: 'name' } });
    const renamed = await m.update({ vm: 'web', name: 'caf\u0065\u0301' });
    expect(renamed).toMatchObject({ id: vm.id, name: 'caf\u00e9', file: vm.file });
    expect(m.get('caf\u00e9').id).toBe(vm.id);
    expect(changed.at(-1)).toMatchObject({ id: vm.id, name: 'caf\u00e9' });
  });

  it('refuses more memory or CPUs than the host has, and booting from a CD-ROM that is not there', async () => {
    const { m, vm } = await setup();
    expect(await rejection(m.update({ vm: 'web', memoryMiB: 8192 }))).toMatchObject({
      code: 'insufficient-resources',
      details: { field: 'memory' },
    });
    expect(await rejection(m.update({ vm: 'web', cpus: 3 }))).toMatchObject({
      code: 'insufficient-resources',
      message: 'This host has 2 CPUs; give the VM at most 2.',
    });
    expect(await rejection(m.update({ vm: 'web', cdromDrives: 0, boot: ['cdrom', 'disk'] }))).toMatchObject({
      code: 'invalid-argument',
      message: '"web" has no CD-ROM drive to boot from. Add a drive first, or leave cdrom out of the boot order.',
      details: { field: 'boot' },
    });
    expect(await rejection(m.update({ vm: 'web', network: 'none', boot: ['network'] }))).toMatchObject({
      details: { field: 'boot' },
    });
    expect(m.get('web').revision).toBe(vm.revision);
  });

  it('leaves a running VM as it is and lists what applies at its next start', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'web' });
    const pid = launcher.last.pid;
    const s = await m.update({ vm: 'web', memoryMiB: 256, cpus: 2, display: 'virtio' });
    expect(s).toMatchObject({ state: 'running', pid });
    expect(s.pending).toEqual(['Memory: 64 MiB → 256 MiB', 'CPUs: 1 → 2', 'Display: std → virtio']);
    // Back to what runs: nothing pending.
    expect((await m.update({ vm: 'web', memoryMiB: 64, cpus: 1, display: 'std' })).pending).toBeUndefined();
    await m.update({ vm: 'web', memoryMiB: 256 });
    await m.stop({ vm: 'web' });
    expect(m.get('web').pending).toBeUndefined();
    await m.start({ vm: 'web' });
    expect(arg(launcher.last.argv, '-m')).toBe('size=256M');
  });

  it('answers without writing when nothing changes', async () => {
    const { m, vm } = await setup();
    const same = await m.update({ vm: 'web', memoryMiB: 64, cpus: 1 });
    expect(same.revision).toBe(vm.revision);
  });
});
