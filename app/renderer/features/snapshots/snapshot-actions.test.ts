/**
 * The Snapshots tab's calls and the store's snapshot state, on the demo fake
 * (app/renderer/dev/fake-api.ts, which mirrors the driver's snapshot.* calls and refusals). The
 * driver's side is tested in app/main/vm/snapshots.test.ts and e2e/snapshots-ui.int.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmdeskApi } from '../../../main/common/api.js';
import type { JobProgress, SnapshotInfo } from '../../../main/common/contract.js';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { createFakeApi, type FakeApi } from '../../dev/fake-api.js';
import { connectStore, loadSnapshots, refetchVms, resetStore } from '../../store/actions.js';
import { store } from '../../store/store.js';
import {
  cancelJob,
  deleteSnapshot,
  forgetThumbnails,
  revertToSnapshot,
  snapshotThumbnail,
  takeSnapshot,
} from './snapshot-actions.js';

/** The fake with calls counted by method, and snapshot.list answers held until released. */
function wrapped(fake: FakeApi) {
  const calls = new Map<string, number>();
  let hold: Promise<void> | null = null;
  const api: VmdeskApi = {
    call: async (method, params) => {
      calls.set(method, (calls.get(method) ?? 0) + 1);
      const answer = await fake.call(method, params);
      if (method === 'snapshot.list' && hold) await hold;
      return answer;
    },
    onEvent: (l) => fake.onEvent(l),
    onConnection: (l) => fake.onConnection(l),
    openStream: (name, params) => fake.openStream(name, params),
  };
  return {
    api,
    count: (m: string) => calls.get(m) ?? 0,
    holdLists: () => {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return () => {
        hold = null;
        release();
      };
    },
  };
}

const vmNamed = (name: string): VmSummary => Object.values(store.getState().vms).find((v) => v.name === name)!;
const names = (id: string) => (store.getState().snapshots[id] ?? []).map((s) => s.name);

describe('snapshots in the window', () => {
  let fake: FakeApi;
  let w: ReturnType<typeof wrapped>;
  let disconnect: () => void;
  beforeEach(async () => {
    resetStore();
    forgetThumbnails();
    fake = createFakeApi({ latencyMs: 0 });
    w = wrapped(fake);
    disconnect = connectStore(w.api);
    await refetchVms();
  });
  afterEach(() => disconnect());

  it('loads a VM’s snapshots when asked and follows snapshot.changed from then on', async () => {
    const web = vmNamed('debian-web');
    expect(store.getState().snapshots[web.id]).toBeUndefined();
    await loadSnapshots(web.id);
    expect(names(web.id)).toHaveLength(4);
    fake.emitEvent('snapshot.changed', { vm: web.id, snapshots: [] });
    expect(names(web.id)).toEqual([]);
  });

  it('drops a snapshot.list answer that a snapshot.changed event overtook', async () => {
    const web = vmNamed('debian-web');
    const release = w.holdLists();
    const loading = loadSnapshots(web.id);
    // The list was read (4 snapshots); then one is deleted and the event arrives before the answer.
    await new Promise((r) => setTimeout(r, 0));
    const newer = (await fake.call('snapshot.list', { vm: web.id })).slice(0, 1);
    fake.emitEvent('snapshot.changed', { vm: web.id, snapshots: newer });
    release();
    await loading;
    expect(names(web.id)).toEqual([newer[0]!.name]);
  });

  it('takes a live snapshot with progress of its own job only, and it becomes current', async () => {
    const web = vmNamed('debian-web');
    await loadSnapshots(web.id);
    const seen: JobProgress[] = [];
    const job = takeSnapshot(web.id, { name: 'before upgrade', description: 'kernel 6.1' }, (p) => seen.push(p));
    expect(store.getState().busy[web.id]).toBe('snapshot');
    const made = await job.done;
    expect(made).toMatchObject({ name: 'before upgrade', withMemory: true, state: 'running', current: true });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((p) => p.jobId === job.jobId)).toBe(true);
    const list = store.getState().snapshots[web.id]!;
    expect(list.filter((s) => s.current).map((s) => s.name)).toEqual(['before upgrade']);
    expect(list.find((s) => s.name === 'before upgrade')!.parent).toBe('nginx + certbot');
    expect(store.getState().busy[web.id]).toBeUndefined();
    expect(vmNamed('debian-web').snapshots?.count).toBe(5);
  });

  it('cancels a live snapshot: the call fails with "cancelled" and no snapshot is added', async () => {
    const web = vmNamed('debian-web');
    await loadSnapshots(web.id);
    const job = takeSnapshot(web.id, { name: 'never' }, () => void cancelJob(job.jobId));
    await expect(job.done).rejects.toMatchObject({ code: 'cancelled' });
    expect(names(web.id)).not.toContain('never');
    expect(store.getState().busy[web.id]).toBeUndefined();
  });

  it('forces a running VM off before reverting it to a snapshot of its disks alone', async () => {
    const web = vmNamed('debian-web');
    await loadSnapshots(web.id);
    const fresh = store.getState().snapshots[web.id]!.find((s) => s.name === 'Fresh install')!;
    // The driver refuses this revert while the VM runs: the window must stop it first.
    await expect(fake.call('snapshot.revert', { vm: web.id, name: fresh.name })).rejects.toMatchObject({
      code: 'invalid-state',
    });
    const after = await revertToSnapshot(web, fresh, () => undefined).done;
    expect(after.state).toBe('stopped');
    expect(vmNamed('debian-web').state).toBe('stopped');
    expect(store.getState().snapshots[web.id]!.find((s) => s.current)!.name).toBe('Fresh install');
  });

  it('reverts to a paused snapshot with memory and leaves the VM paused, with the load’s progress', async () => {
    const web = vmNamed('debian-web');
    await loadSnapshots(web.id);
    const php: SnapshotInfo = store.getState().snapshots[web.id]!.find((s) => s.name === 'Trying PHP 8.3')!;
    const seen: JobProgress[] = [];
    const after = await revertToSnapshot(web, php, (p) => seen.push(p)).done;
    expect(after.state).toBe('paused');
    expect(seen.at(-1)).toMatchObject({ what: 'Loading memory and disks' });
  });

  it('deletes a snapshot in the middle: its children move to its parent, shown at once', async () => {
    const web = vmNamed('debian-web');
    await loadSnapshots(web.id);
    await deleteSnapshot(web.id, 'Updated, before nginx');
    const list = store.getState().snapshots[web.id]!;
    expect(list.map((s) => [s.name, s.parent])).toEqual([
      ['Fresh install', null],
      ['Trying PHP 8.3', 'Fresh install'],
      ['nginx + certbot', 'Fresh install'],
    ]);
  });

  it('forgets a deleted VM’s snapshots', async () => {
    const fedora = vmNamed('fedora-41-workstation');
    await loadSnapshots(fedora.id);
    expect(names(fedora.id)).toEqual(['Clean']);
    fake.emitEvent('vm.removed', { id: fedora.id });
    expect(store.getState().snapshots[fedora.id]).toBeUndefined();
  });

  it('fetches each thumbnail once, and none for a snapshot without a screen', async () => {
    const web = vmNamed('debian-web');
    await loadSnapshots(web.id);
    const [fresh, updated] = store.getState().snapshots[web.id]!;
    const png = await snapshotThumbnail(web.id, updated!);
    expect(atob(png!).slice(1, 4)).toBe('PNG');
    expect(await snapshotThumbnail(web.id, updated!)).toBe(png);
    expect(w.count('snapshot.thumbnail')).toBe(1);
    expect(await snapshotThumbnail(web.id, fresh!)).toBeNull();
  });
});
