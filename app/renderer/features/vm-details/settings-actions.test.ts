/**
 * The Settings view's calls through the store, on the demo fake (app/renderer/dev/fake-api.ts,
 * which mirrors the driver's vm.update: revision check, `pending` for a running VM). The real
 * driver's side is tested in app/main/vm and e2e/settings.int.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { createFakeApi, type FakeApi } from '../../dev/fake-api.js';
import { connectStore, reloadVm, resetStore, updateVm } from '../../store/actions.js';
import { store } from '../../store/store.js';
import { placeSettingsError, settingsBase, toUpdateInput } from './settings-form.js';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const byName = (name: string): VmSummary => {
  const vm = Object.values(store.getState().vms).find((v) => v.name === name);
  if (!vm) throw new Error(`no ${name}`);
  return vm;
};

/** Saves the form for `vm` with `change` typed over it, as the Save button does. */
async function save(vm: VmSummary, change: Partial<NonNullable<ReturnType<typeof settingsBase>>['form']>) {
  const base = settingsBase(vm)!;
  const r = toUpdateInput(vm.id, base, { ...base.form, ...change });
  if (!('input' in r)) throw new Error(`nothing to send: ${JSON.stringify(r)}`);
  return updateVm(r.input);
}

describe('saving settings', () => {
  let fake: FakeApi;
  let disconnect: () => void;

  beforeEach(async () => {
    resetStore();
    fake = createFakeApi({ latencyMs: 0 });
    disconnect = connectStore(fake);
    await until(() => store.getState().listLoaded);
  });
  afterEach(() => disconnect());

  it('saves a stopped VM and shows its new summary, with a new revision', async () => {
    const vm = byName('fedora-41-workstation');
    expect(vm.revision).toBeTruthy();
    const saved = await save(vm, { memory: '4096', name: 'fedora-work' });
    expect(saved.definition).toMatchObject({ memoryMiB: 4096, cpus: 4, name: 'fedora-work' });
    expect(saved.pending).toBeUndefined();
    expect(saved.revision).not.toBe(vm.revision);
    expect(store.getState().vms[vm.id]).toMatchObject({ name: 'fedora-work', revision: saved.revision });
  });

  it('lists what waits for the next start of a running VM, and forgets it when it stops', async () => {
    const vm = byName('debian-web');
    const saved = await save(vm, { memory: '8192', cpus: '6' });
    expect(saved.state).toBe('running');
    expect(saved.pending).toEqual(['Memory: 4 GiB → 8 GiB', 'CPUs: 4 → 6']);
    // Set back: nothing waits any more.
    const back = await save(saved, { memory: '4096', cpus: '4' });
    expect(back.pending).toBeUndefined();
    await save(back, { display: 'std' });
    const stopped = await fake.call('vm.stop', { vm: vm.id });
    expect(stopped.pending).toBeUndefined();
  });

  it('refuses a save over a change made elsewhere; reloading gives the current revision', async () => {
    const vm = byName('fedora-41-workstation');
    await fake.call('vm.update', { vm: vm.id, revision: vm.revision, cpus: 8 });
    const err = await save(vm, { memory: '4096' }).catch((e: unknown) => e);
    expect(placeSettingsError(err)).toEqual({ stale: expect.stringMatching(/was changed since you opened it/) });
    expect((await fake.call('vm.get', { vm: vm.id })).definition?.memoryMiB).toBe(8192);
    const fresh = await reloadVm(vm.id);
    expect(fresh.definition?.cpus).toBe(8);
    expect((await save(fresh, { memory: '4096' })).definition).toMatchObject({ memoryMiB: 4096, cpus: 8 });
  });

  it("puts the fake driver's refusals next to their field", async () => {
    const vm = byName('fedora-41-workstation');
    const taken = await save(vm, { name: 'debian-web' }).catch((e: unknown) => e);
    expect(placeSettingsError(taken)).toEqual({ name: 'A VM named "debian-web" already exists. Choose another name.' });
    const big = await save(vm, { memory: '65536' }).catch((e: unknown) => e);
    expect(Object.keys(placeSettingsError(big))).toEqual(['memory']);
  });
});
