import { describe, expect, it } from 'vitest';
import type { SnapshotInfo } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { sampleDefinition } from '../../dev/fake-data.js';
import {
  buildSnapshotTree,
  defaultSnapshotName,
  deleteEffect,
  jobProgressView,
  revertPlan,
  snapshotBlockers,
  snapshotKind,
  snapshotNameError,
  takeMode,
  type TreeItem,
} from './snapshot-tree.js';

let minute = 0;
function snap(name: string, parent: string | null, over: Partial<SnapshotInfo> = {}): SnapshotInfo {
  minute++;
  return {
    name,
    parent,
    createdAt: `2025-11-21T10:${String(minute).padStart(2, '0')}:00.000Z`,
    state: 'running',
    withMemory: true,
    current: false,
    thumbnail: true,
    ...over,
  };
}

/** The tree as indented lines: "name" per snapshot, "*" for "You are here". */
function outline(items: TreeItem[], depth = 0): string[] {
  return items.flatMap((i) =>
    i.kind === 'here'
      ? [`${'  '.repeat(depth)}*`]
      : [`${'  '.repeat(depth)}${i.snap.name}`, ...outline(i.children, depth + 1)],
  );
}

describe('the snapshot tree', () => {
  it('puts each snapshot under its parent, siblings oldest first, whatever order the list has', () => {
    const base = snap('base', null);
    const a = snap('a', 'base');
    const b = snap('b', 'base', { current: true });
    const a1 = snap('a1', 'a');
    expect(outline(buildSnapshotTree([a1, b, base, a]))).toEqual(['base', '  a', '    a1', '  b', '    *']);
  });

  it('marks "You are here" as the last child of the current snapshot, after the snapshots taken from it', () => {
    // Reverted to "base", which already has a child: the VM now stands on a new branch of base.
    const list = [snap('base', null, { current: true }), snap('later', 'base')];
    expect(outline(buildSnapshotTree(list))).toEqual(['base', '  later', '  *']);
  });

  it('puts "You are here" at the top level when no snapshot is current, and shows nothing for no snapshots', () => {
    expect(outline(buildSnapshotTree([snap('x', null)]))).toEqual(['x', '*']);
    expect(buildSnapshotTree([])).toEqual([]);
  });

  it('shows a snapshot whose parent is missing or loops as a first one instead of dropping it', () => {
    const list = [snap('orphan', 'gone'), snap('p', 'q'), snap('q', 'p', { current: true })];
    expect(outline(buildSnapshotTree(list))).toEqual(['orphan', 'p', 'q', '  *']);
  });

  it('orders snapshots taken in the same second by name', () => {
    const t = '2025-11-21T12:00:00.000Z';
    const list = [snap('b', null, { createdAt: t }), snap('a', null, { createdAt: t })];
    expect(outline(buildSnapshotTree(list))).toEqual(['a', 'b', '*']);
  });
});

describe('naming a snapshot', () => {
  it('proposes "Snapshot N" after the ones there are, skipping a taken number', () => {
    expect(defaultSnapshotName([])).toBe('Snapshot 1');
    expect(defaultSnapshotName([{ name: 'before upgrade' }])).toBe('Snapshot 2');
    expect(defaultSnapshotName([{ name: 'Snapshot 1' }, { name: 'Snapshot 3' }])).toBe('Snapshot 4');
  });

  it('refuses an empty name, a bad one and one the VM already has, but lets a snapshot keep its own', () => {
    const list = [{ name: 'clean install' }];
    expect(snapshotNameError('', list)).toBe('A snapshot name cannot be empty.');
    expect(snapshotNameError('a/b', list)).toBe('A snapshot name cannot contain "/".');
    // NFC: "é" typed as one code point or as e + accent is one name.
    expect(snapshotNameError('cle\u0301an install', [{ name: 'cl\u00e9an install' }])).toBe(
      'This VM already has a snapshot named "cle\u0301an install". Choose another name.',
    );
    expect(snapshotNameError('clean install', list, 'clean install')).toBeUndefined();
    expect(snapshotNameError('Clean Install', list)).toBeUndefined();
  });
});

describe('what the tab says', () => {
  it('names what a snapshot holds', () => {
    expect(snapshotKind({ withMemory: true, state: 'running' })).toBe('With memory (running)');
    expect(snapshotKind({ withMemory: true, state: 'paused' })).toBe('With memory (paused)');
    expect(snapshotKind({ withMemory: false, state: 'stopped' })).toBe('Disks only');
  });

  it('offers memory while the VM runs, disks alone when it is off, nothing while it changes state', () => {
    expect(takeMode('paused', 'web')).toEqual({ mode: 'memory' });
    expect(takeMode('crashed', 'web')).toEqual({ mode: 'disks' });
    expect(takeMode('starting', 'web')).toEqual({
      mode: 'none',
      why: '“web” is starting: take a snapshot once it is running or off.',
    });
  });

  it('says reverting a running VM to a disks-only snapshot forces it off, and what is lost', () => {
    const list = [snap('off', null, { withMemory: false, state: 'stopped' }), snap('now', 'off', { current: true })];
    const plan = revertPlan(list[0]!, { name: 'web', state: 'running' }, list, 'Nov 21, 10:00');
    expect(plan.forceOff).toBe(true);
    expect(plan.startFirst).toBe(false);
    expect(plan.lost).toEqual([
      'What “web” has in memory now: its open programs and anything not saved to its disks. Take a snapshot first to keep it.',
      'Changes to its disks since “now” (where it stands now) that are in no snapshot.',
    ]);
    expect(plan.after).toBe('“web” is then off, with its disks as they were on Nov 21, 10:00.');
    const paused = revertPlan(snap('p', null, { state: 'paused' }), { name: 'web', state: 'stopped' }, [], 'then');
    expect(paused).toEqual({
      forceOff: false,
      startFirst: true,
      lost: ['Changes to its disks that are in no snapshot.'],
      after: '“web” is then paused, as it was on then.',
    });
  });

  it('says where the children of a deleted snapshot go and where "You are here" moves', () => {
    const root = snap('root', null);
    const mid = snap('mid', 'root', { current: true });
    const list = [root, mid, snap('c1', 'mid'), snap('c2', 'mid')];
    expect(deleteEffect(mid, list)).toBe(
      '“c1” and “c2” stay, attached to “root”. The VM itself does not change; “You are here” moves to “root”.',
    );
    expect(deleteEffect(root, list)).toBe('“mid” stays, at the top of the tree. The VM itself does not change.');
  });

  it('says before anyone tries why a VM cannot take snapshots, with the command that converts a raw disk', () => {
    const def = sampleDefinition('c7d4e2a0-5b3f-4c1d-8e9a-0f1b2c3d4e5f', 'build', {
      disks: [
        { path: '/vms/d0.qcow2', target: 'vda', format: 'qcow2', owned: true, readOnly: false, linkedClones: [] },
        { path: "/my images/ada's.raw", target: 'vdb', format: 'raw', owned: false, readOnly: false },
      ],
      mdevs: [{ uuid: '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001', type: 'mtty-2', parent: 'mtty', display: false }],
    });
    const vm: VmSummary = { id: def.id, name: 'build', state: 'running', definition: def, file: '/x.json' };
    const blockers = snapshotBlockers(vm);
    expect(blockers.map((b) => b.kind)).toEqual(['raw', 'vgpu']);
    // A vGPU's state cannot be saved, but a VM that is off snapshots its disks alone.
    expect(snapshotBlockers({ ...vm, state: 'stopped' }).map((b) => b.kind)).toEqual(['raw']);
    expect(blockers[0]!.command).toBe('vmdesk disk convert build vdb');
    const shared = { ...def, mdevs: [], disks: [{ ...def.disks[0]!, linkedClones: [def.id] }] };
    expect(snapshotBlockers({ ...vm, definition: shared })).toEqual([
      {
        kind: 'linked',
        text: 'Disk vda is shared read-only with a linked clone: it must not change under it. Delete the linked clone, or take snapshots of the clone instead.',
      },
    ]);
    expect(snapshotBlockers({ ...vm, definition: { ...def, mdevs: [], disks: [] } })[0]!.kind).toBe('no-disk');
    const ro = { ...def, mdevs: [], disks: [{ ...def.disks[0]!, readOnly: true }] };
    expect(snapshotBlockers({ ...vm, definition: ro }).map((b) => b.kind)).toEqual(['read-only']);
  });

  it('shows a job’s amount when it counts bytes, and a busy bar for QEMU’s 0-of-1 snapshot jobs', () => {
    expect(jobProgressView(undefined)).toEqual({ line: 'Starting…' });
    expect(jobProgressView({ what: 'Saving memory and disks', doneBytes: 0, totalBytes: 1 })).toEqual({
      line: 'Saving memory and disks…',
    });
    expect(jobProgressView({ what: 'Saving memory and disks', doneBytes: 2 ** 29, totalBytes: 2 ** 31 })).toEqual({
      line: 'Saving memory and disks: 512 MiB of 2.0 GiB (25 %)',
      value: { done: 2 ** 29, total: 2 ** 31 },
    });
  });
});
