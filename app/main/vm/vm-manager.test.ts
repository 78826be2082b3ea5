/**
 * VmManager against faults a real QEMU cannot produce on demand: a "QEMU" that hangs before it
 * opens its control socket (a fake binary: a shell script that only sleeps). Everything that a
 * real QEMU can show is tested against real QEMU in e2e/driver.int.test.ts.
 */
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import type { AppPaths } from '../paths/app-paths.js';
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
  const paths = tempAppPaths(root);
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

/** The VMs' folders, definitions and intents on disk: what a failed or cancelled clone MUST NOT add to. */
function onDisk(paths: AppPaths): { data: string[]; defs: string[]; intents: string[] } {
  const ls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return {
    data: ls(path.join(paths.data, 'vms')),
    defs: ls(path.join(paths.config, 'vms')),
    intents: ls(path.join(paths.config, 'intents')),
  };
}

/** A sparse raw image of `bytes` with a marker at its start: a disk vmdesk did not make. */
function sparseDisk(dir: string, name: string, bytes: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, 'VMDESK-TEST-DISK');
  fs.truncateSync(file, bytes);
  return file;
}

describe('VmManager clone', () => {
  it('makes a full clone: a new VM with its own id and copies of every disk, the source untouched, progress to the end', async () => {
    const { m, paths } = setup({ startTimeoutMs: 300 });
    await m.init();
    const external = sparseDisk(path.resolve(paths.config, '../..'), 'data.img', 64 * 2 ** 20);
    const src = await m.define({
      name: 'web',
      memoryMiB: 64,
      cpus: 1,
      disk: { sizeBytes: 2 ** 30 },
      moreDisks: [{ path: external }],
    });
    const progress: { jobId: string; doneBytes: number; totalBytes: number }[] = [];
    m.events.on('job.progress', (p) => progress.push(p));
    const clone = await m.clone({ vm: 'web', name: 'web (copy)', jobId: 'job-1' });
    expect(clone.id).not.toBe(src.id);
    expect(clone.name).toBe('web (copy)');
    const dir = path.join(paths.data, 'vms', clone.id);
    expect(clone.definition!.disks).toEqual([
      { path: `${dir}/disk0.qcow2`, target: 'vda', format: 'qcow2', owned: true, readOnly: false },
      { path: `${dir}/disk1.img`, target: 'vdb', format: 'raw', owned: true, readOnly: false },
    ]);
    expect(fs.readFileSync(`${dir}/disk1.img`).subarray(0, 16).toString()).toBe('VMDESK-TEST-DISK');
    expect(m.get('web').definition).toEqual(src.definition);
    expect(m.list().map((v) => v.name)).toEqual(['web', 'web (copy)']);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p.jobId === 'job-1')).toBe(true);
    expect(progress.at(-1)!.doneBytes).toBe(progress.at(-1)!.totalBytes);
    expect(onDisk(paths).intents).toEqual([]);
  });

  it('makes a linked clone whose base stays read-only while it exists, refuses to delete the base, and releases it when the clone goes', async () => {
    const { m, paths } = setup({ startTimeoutMs: 300 });
    await m.init();
    await m.define({ name: 'base', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 30 } });
    const base = m.get('base').definition!.disks[0]!;
    const clone = await m.clone({ vm: 'base', name: 'thin', linked: true });
    expect(clone.definition!.disks).toEqual([
      {
        path: path.join(paths.data, 'vms', clone.id, 'disk0.qcow2'),
        target: 'vda',
        format: 'qcow2',
        owned: true,
        readOnly: false,
        backing: base.path,
      },
    ]);
    expect(m.get('base').definition!.disks[0]!.linkedClones).toEqual([clone.id]);
    await expect(m.delete({ vm: 'base' })).rejects.toThrow(
      '"base" cannot be deleted: the linked clone "thin" reads through its disk vda. Delete it first, or make it independent with a full clone (vmdesk clone "thin" NEW) and delete the linked one.',
    );
    expect(fs.existsSync(base.path)).toBe(true);
    await m.delete({ vm: 'thin' });
    expect(m.get('base').definition!.disks[0]!.linkedClones).toBeUndefined();
    await m.delete({ vm: 'base' });
    expect(onDisk(paths)).toEqual({ data: [], defs: [], intents: [] });
  });

  it('refuses a taken name, a bad name and a source that is not off, each in a sentence, and makes nothing', async () => {
    const { m, paths, pidFile } = setup({ startTimeoutMs: 60_000 });
    await m.init();
    await m.define({ name: 'web', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 20 } });
    await m.define({ name: 'db', memoryMiB: 64, cpus: 1 });
    const before = onDisk(paths);
    await expect(m.clone({ vm: 'web', name: 'db' })).rejects.toMatchObject({
      code: 'name-taken',
      message: 'A VM named "db" already exists. Choose another name.',
    });
    await expect(m.clone({ vm: 'web', name: 'a/b', linked: true })).rejects.toMatchObject({
      code: 'invalid-argument',
      message: 'A VM name cannot contain "/".',
    });
    await expect(m.clone({ vm: 'nope', name: 'x' })).rejects.toMatchObject({ code: 'not-found' });
    // The fake QEMU hangs before it is ready: the source stays "starting" until forced off.
    const starting = m.start({ vm: 'web' }).catch((e: unknown) => e);
    await readPid(pidFile);
    await expect(m.clone({ vm: 'web', name: 'x' })).rejects.toMatchObject({
      code: 'invalid-state',
      message:
        '"web" is starting. Shut it down first: a clone is made from a VM that is off, so its disks do not change under the copy.',
    });
    await m.stop({ vm: 'web' });
    await starting;
    expect(onDisk(paths)).toEqual(before);
  });

  it('cancels a full clone on job.cancel and leaves nothing of it: no folder, no definition, no intent', async () => {
    const { m, paths } = setup({ startTimeoutMs: 300 });
    await m.init();
    // 64 GiB of holes: the copy reads them all, far longer than the cancel takes to arrive.
    const big = sparseDisk(path.resolve(paths.config, '../..'), 'big.img', 64 * 2 ** 30);
    await m.define({ name: 'big', memoryMiB: 64, cpus: 1, disk: { path: big } });
    const before = onDisk(paths);
    let cancelled: Promise<{ cancelled: boolean }> | undefined;
    m.events.on('job.progress', (p) => {
      cancelled ??= m.cancelJob({ jobId: p.jobId });
    });
    const err = await m.clone({ vm: 'big', name: 'big 2', jobId: 'j-cancel' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'cancelled',
      message: 'Cloning "big" as "big 2" was cancelled; nothing of the clone was kept.',
    });
    expect(await cancelled).toEqual({ cancelled: true });
    expect(onDisk(paths)).toEqual(before);
    expect(m.list().map((v) => v.name)).toEqual(['big']);
    // The name is free again, and a job that is over cannot be cancelled.
    expect(await m.cancelJob({ jobId: 'j-cancel' })).toEqual({ cancelled: false });
    await expect(m.clone({ vm: 'big', name: 'big 2', linked: true })).resolves.toMatchObject({ name: 'big 2' });
  });

  it('cancels a full clone when the caller goes away (its signal aborts)', async () => {
    const { m, paths } = setup({ startTimeoutMs: 300 });
    await m.init();
    const big = sparseDisk(path.resolve(paths.config, '../..'), 'big.img', 64 * 2 ** 30);
    await m.define({ name: 'big', memoryMiB: 64, cpus: 1, disk: { path: big } });
    const before = onDisk(paths);
    const gone = new AbortController();
    m.events.on('job.progress', () => gone.abort());
    await expect(m.clone({ vm: 'big', name: 'c' }, gone.signal)).rejects.toMatchObject({ code: 'cancelled' });
    expect(onDisk(paths)).toEqual(before);
  });

  it('releases at start-up a base marked by a clone that never came to be (the driver died in between)', async () => {
    const { m, paths } = setup({ startTimeoutMs: 300 });
    await m.init();
    await m.define({ name: 'base', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 20 } });
    await m.resolve('base').setLinkedClone('99999999-8888-4777-8666-555555555555', true, ['vda']);
    expect(m.get('base').definition!.disks[0]!.linkedClones).toHaveLength(1);
    await m.detachAll();
    const again = new VmManager(paths, new FakeHost());
    await again.init();
    expect(again.get('base').definition!.disks[0]!.linkedClones).toBeUndefined();
  });
});
