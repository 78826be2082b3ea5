/**
 * The clone dialog's calls, on the demo fake (app/renderer/dev/fake-api.ts, which mirrors the
 * driver's vm.clone and job.cancel). The real driver's side is tested in app/main/vm/clone.test.ts,
 * vm-manager.test.ts and e2e/clone*.int.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobProgress } from '../../../main/common/contract.js';
import { createFakeApi, type FakeApi } from '../../dev/fake-api.js';
import { connectStore, resetStore } from '../../store/actions.js';
import { store } from '../../store/store.js';
import { cancelClone, cloneNameProblem, defaultCloneName, progressText, startClone } from './clone-actions.js';

describe('the clone dialog', () => {
  let fake: FakeApi;
  let disconnect: () => void;
  beforeEach(() => {
    resetStore();
    fake = createFakeApi({ latencyMs: 0 });
    disconnect = connectStore(fake);
  });
  afterEach(() => disconnect());

  it('proposes "NAME (clone)", then a number when that is taken', () => {
    expect(defaultCloneName('web', ['web'])).toBe('web (clone)');
    expect(defaultCloneName('web', ['web', 'web (clone)', 'web (clone 2)'])).toBe('web (clone 3)');
  });

  it('says why a name cannot be the clone’s', () => {
    expect(cloneNameProblem('web', ['web'])).toBe('A VM named "web" already exists. Choose another name.');
    expect(cloneNameProblem('.x', [])).toBe('A VM name cannot start with ".".');
    expect(cloneNameProblem('web 2', ['web'])).toBeUndefined();
  });

  it('shows the progress of its own job only, then selects the new VM', async () => {
    const src = (await fake.call('vm.list', {})).find((v) => v.state === 'stopped' && v.definition?.disks.length)!;
    const seen: JobProgress[] = [];
    const job = startClone(src.id, 'copy', false, (p) => seen.push(p));
    const made = await job.done;
    expect(made.name).toBe('copy');
    expect(store.getState().selectedId).toBe(made.id);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((p) => p.jobId === job.jobId)).toBe(true);
    expect(seen.at(-1)!.doneBytes).toBe(seen.at(-1)!.totalBytes);
    expect(progressText({ doneBytes: 2 ** 30, totalBytes: 20 * 2 ** 30 })).toBe('1.0 GiB of 20.0 GiB (5 %)');
  });

  it('cancels a full clone: the call fails with "cancelled" and no VM is added', async () => {
    const src = (await fake.call('vm.list', {})).find((v) => v.state === 'stopped' && v.definition?.disks.length)!;
    const before = (await fake.call('vm.list', {})).length;
    const job = startClone(src.id, 'never', false, () => void cancelClone(job.jobId));
    await expect(job.done).rejects.toMatchObject({ code: 'cancelled' });
    expect(await fake.call('vm.list', {})).toHaveLength(before);
  });
});
