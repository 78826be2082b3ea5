import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { VmDefinition } from '../common/vm-types.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';
import { assertSnapshottable, assertSpaceFor, runQmpJob, snapshotInfos, type SnapshotFile } from './snapshots.js';
import type { QmpClient } from '../qemu/qmp-client.js';
import { QmpConnectionError, QmpTimeoutError } from '../qemu/qmp-types.js';
import { PLAIN_GUEST } from '../common/vm-types.js';
import { vmFiles } from '../paths/vm-files.js';

const entry = (name: string, parent: string | null, at: string) => ({
  name,
  tag: `vmdesk-${name
    .padEnd(12, '0')
    .slice(0, 12)
    .replace(/[^0-9a-f]/g, 'a')}`,
  createdAt: at,
  state: 'running' as const,
  withMemory: true,
  parent,
});

describe('the snapshot tree', () => {
  it('lists parents before children, oldest first, with names for parents and the current one marked', () => {
    const a = entry('a', null, '2026-01-01T00:00:00Z');
    const b = entry('b', a.tag, '2026-01-02T00:00:00Z');
    const c = entry('c', a.tag, '2026-01-03T00:00:00Z');
    const d = entry('d', b.tag, '2026-01-04T00:00:00Z');
    const f: SnapshotFile = { version: 1, current: c.tag, snapshots: [d, c, b, a] };
    expect(snapshotInfos(f).map((s) => [s.name, s.parent, s.current])).toEqual([
      ['a', null, false],
      ['b', 'a', false],
      ['d', 'b', false],
      ['c', 'a', true],
    ]);
  });
});

const def = (over: Partial<VmDefinition> = {}): VmDefinition => ({
  version: 3,
  ...PLAIN_GUEST,
  id: '11111111-2222-4333-8444-555555555555',
  name: 'web',
  arch: 'x86_64',
  memoryMiB: 1024,
  cpus: 1,
  accel: 'auto',
  firmware: 'bios',
  disks: [{ target: 'vda', path: '/d/vda.qcow2', format: 'qcow2', owned: true, readOnly: false }],
  cdroms: [],
  boot: ['disk'],
  network: { mode: 'user', forwards: [] },
  display: 'std',
  nvram: null,
  mdevs: [],
  createdAt: '2026-01-01T00:00:00Z',
  ...over,
});

describe('what cannot take a snapshot, in sentences', () => {
  it('a raw disk (with the conversion to run), a linked clone’s base, a vGPU with memory, no disk', () => {
    const raw = def({ disks: [{ target: 'vda', path: '/d/a.img', format: 'raw', owned: false, readOnly: false }] });
    expect(() => assertSnapshottable(raw, false)).toThrow(
      'Disk vda of "web" is raw, which cannot hold snapshots. Convert it to qcow2 with the VM off: vmdesk disk convert "web" vda (the raw file is kept).',
    );
    const base = def({
      disks: [
        { target: 'vda', path: '/d/vda.qcow2', format: 'qcow2', owned: true, readOnly: false, linkedClones: ['x'] },
      ],
    });
    expect(() => assertSnapshottable(base, false)).toThrow(/is the base of linked clones/);
    const vgpu = def({
      mdevs: [{ uuid: '11111111-2222-4333-8444-555555555556', type: 't', parent: 'p', display: false }],
    });
    expect(() => assertSnapshottable(vgpu, true)).toThrow(/has a vGPU, whose state QEMU cannot save/);
    expect(() => assertSnapshottable(vgpu, false)).not.toThrow();
    expect(() => assertSnapshottable(def({ disks: [] }), false)).toThrow(/has no disk/);
  });

  it('too little space: the guest’s memory and room for its disks to grow', () => {
    expect(() => assertSpaceFor(def(), true, 10 * 2 ** 30, 1.5 * 2 ** 30)).toThrow(
      'A snapshot of "web" needs about 2 GiB free (its memory, and room for its disks to grow), and 1.5 GiB are free where its disks are. Free space, or delete snapshots it no longer needs.',
    );
    expect(() => assertSpaceFor(def(), false, 10 * 2 ** 30, 1.5 * 2 ** 30)).not.toThrow();
  });
});

describe('taking a live snapshot, cancelled (VmManager; QEMU is the in-process fake, whose save runs until cancelled)', () => {
  it('leaves no snapshot, no record and no files, and the guest runs on', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snap-'));
    const launcher = new FakeQemuLauncher();
    const m = new VmManager(tempAppPaths(root), new FakeHost(), { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000 });
    try {
      await m.init();
      await m.define({ name: 'web', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 24 } });
      await m.start({ vm: 'web' });
      launcher.procs.at(-1)!.script.slowJobs = true;
      const progress: string[] = [];
      m.events.on('job.progress', (p) => progress.push(`${p.jobId} ${p.what}`));
      const taking = m.snapshotCreate({ vm: 'web', name: 'risky', jobId: 'j1' });
      await vi.waitFor(() => expect(progress).toContain('j1 Saving memory and disks'));
      expect(await m.cancelJob({ jobId: 'j1' })).toEqual({ cancelled: true });
      await expect(taking).rejects.toMatchObject({ code: 'cancelled' });
      expect(m.snapshotList({ vm: 'web' })).toEqual([]);
      const dataDir = path.dirname(m.get('web').definition!.disks[0]!.path);
      expect(fs.readdirSync(path.join(dataDir, 'snapshots'))).toEqual([]);
      // The save was asked for and cancelled; QEMU pauses and resumes the guest around it itself.
      const calls = launcher.procs.at(-1)!.calls.map((c) => c.execute);
      expect(calls.slice(calls.indexOf('snapshot-save'))).toEqual(
        expect.arrayContaining(['snapshot-save', 'job-cancel', 'job-dismiss']),
      );
      expect(m.get('web').state).toBe('running');
    } finally {
      await m.detachAll();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('waiting for a snapshot job (VmManager; QEMU is the in-process fake, whose save runs until cancelled)', () => {
  it('hears its end from QEMU’s job events alone: no query-jobs while it runs', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapw-'));
    const launcher = new FakeQemuLauncher();
    const m = new VmManager(tempAppPaths(root), new FakeHost(), { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000 });
    try {
      await m.init();
      await m.define({ name: 'web', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 24 } });
      await m.start({ vm: 'web' });
      const qemu = launcher.procs.at(-1)!;
      qemu.script.slowJobs = true;
      const taking = m.snapshotCreate({ vm: 'web', name: 'long', jobId: 'j2' });
      await vi.waitFor(() => expect(qemu.commands).toContain('snapshot-save'));
      // Longer than the 500 ms query-jobs poll the driver used to run for progress.
      await new Promise((r) => setTimeout(r, 1200));
      const during = qemu.commands.slice(qemu.commands.indexOf('snapshot-save') + 1);
      expect(during).not.toContain('query-jobs');
      await m.cancelJob({ jobId: 'j2' });
      await expect(taking).rejects.toMatchObject({ code: 'cancelled' });
      // Once it ended: its error asked for, and the job dismissed.
      const after = qemu.commands.slice(qemu.commands.indexOf('job-cancel') + 1);
      expect(after.slice(after.indexOf('query-jobs'))).toEqual(expect.arrayContaining(['query-jobs', 'job-dismiss']));
    } finally {
      await m.detachAll();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('snapshot names', () => {
  it('are stored composed (NFC), and one written another way is the same name', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapn-'));
    const launcher = new FakeQemuLauncher();
    const m = new VmManager(tempAppPaths(root), new FakeHost(), { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000 });
    try {
      await m.init();
      await m.define({ name: 'web', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 24 } });
      const made = await m.snapshotCreate({ vm: 'web', name: 'cafe\u0301' });
      expect(made.name).toBe('caf\u00e9');
      await expect(m.snapshotCreate({ vm: 'web', name: 'caf\u00e9' })).rejects.toMatchObject({ code: 'name-taken' });
      const renamed = await m.snapshotUpdate({ vm: 'web', name: 'cafe\u0301', newName: 'gru\u0308n' });
      expect(renamed.name).toBe('gr\u00fcn');
      expect(m.snapshotList({ vm: 'web' }).map((s) => [s.name, s.withMemory, s.state])).toEqual([
        ['gr\u00fcn', false, 'stopped'],
      ]);
    } finally {
      await m.detachAll();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('the summary’s snapshot count', () => {
  it('follows snapshots.json, also when it is changed by hand after a summary went out', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapc-'));
    const launcher = new FakeQemuLauncher();
    const paths = tempAppPaths(root);
    const m = new VmManager(paths, new FakeHost(), { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000 });
    try {
      await m.init();
      const vm = await m.define({ name: 'web', memoryMiB: 64, cpus: 1, disk: { sizeBytes: 2 ** 24 } });
      expect(m.get('web').snapshots).toBeUndefined();
      await m.snapshotCreate({ vm: 'web', name: 'one' });
      expect(m.get('web').snapshots).toEqual({ count: 1, vmStateBytes: 0 });
      expect(m.get('web').snapshots).toEqual({ count: 1, vmStateBytes: 0 });

      const file = path.join(vmFiles(paths, vm.id, vm.definition?.dataDir).dataDir, 'snapshots.json');
      const records = JSON.parse(fs.readFileSync(file, 'utf8')) as SnapshotFile;
      const extra = entry('two', records.snapshots[0]!.tag, '2026-01-02T00:00:00Z');
      records.snapshots.push({ ...extra, vmStateBytes: 5000 });
      fs.writeFileSync(file, JSON.stringify(records));
      expect(m.get('web').snapshots).toEqual({ count: 2, vmStateBytes: 5000 });

      fs.writeFileSync(file, '{ not json');
      expect(m.get('web').snapshots).toBeUndefined();
      fs.rmSync(file);
      expect(m.get('web').snapshots).toBeUndefined();
    } finally {
      await m.detachAll();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

/**
 * A stand-in for QmpClient in front of QEMU 7.2, as measured on it: QEMU answers snapshot-save
 * only once the job has run (the save holds its main loop; a 1 GiB guest took 1.8 s here), and
 * QmpClient rejects a request that stays unanswered past its timeout (10 s unless the call gives
 * one). A real QEMU cannot be made to take a minute on demand, nor to go away between the
 * command and its answer: hence the stand-in.
 */
function qemuWithJob(o: { jobMs?: number; refuse?: boolean }) {
  const events = new Set<(e: { event: string; data?: unknown }) => void>();
  const closes = new Set<() => void>();
  const qmp = {
    execute(command: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<unknown> {
      if (command === 'query-jobs') return Promise.resolve([]);
      if (command !== 'snapshot-save') return Promise.resolve({});
      if (o.refuse) return Promise.reject(new QmpConnectionError('the connection ended'));
      const id = args?.['job-id'];
      return new Promise((resolve, reject) => {
        setTimeout(() => reject(new QmpTimeoutError(command, opts?.timeoutMs ?? 10_000)), opts?.timeoutMs ?? 10_000);
        setTimeout(() => {
          for (const l of events) l({ event: 'JOB_STATUS_CHANGE', data: { id, status: 'concluded' } });
          resolve({});
        }, o.jobMs);
      });
    },
    onEvent(l: (e: { event: string; data?: unknown }) => void) {
      events.add(l);
      return () => void events.delete(l);
    },
    onClose(l: () => void) {
      closes.add(l);
      return () => void closes.delete(l);
    },
  };
  return { qmp: qmp as unknown as QmpClient, close: () => [...closes].forEach((l) => l()), closes };
}

describe('runQmpJob', () => {
  it('waits for a job that runs longer than a QMP request may (a large guest’s memory)', async () => {
    vi.useFakeTimers();
    try {
      const { qmp } = qemuWithJob({ jobMs: 60_000 });
      const job = runQmpJob(qmp, 'snapshot-save', { tag: 't' }, { jobId: 'big' });
      const outcome = job.then(
        () => 'done',
        (err: Error) => err.message,
      );
      await vi.advanceTimersByTimeAsync(60_000);
      expect(await outcome).toBe('done');
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails with the command’s error when QEMU goes away before answering, and leaves nothing listening', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const q = qemuWithJob({ refuse: true });
      await expect(runQmpJob(q.qmp, 'snapshot-save', { tag: 't' }, { jobId: 'gone' })).rejects.toThrow(
        'the connection ended',
      );
      expect(q.closes.size).toBe(0);
      q.close();
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
