import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmdeskApi } from '../../main/common/api.js';
import type { VmSummary } from '../../main/common/vm-types.js';
import { createFakeApi, type FakeApi } from '../dev/fake-api.js';
import {
  applyVmChanged,
  connectStore,
  defineVm,
  deleteVm,
  refetchVms,
  resetStore,
  runVmAction,
  selectVm,
} from './actions.js';
import { sortedVms, store } from './store.js';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** The fake, with vm.list calls counted. */
function counted(fake: FakeApi): { api: VmdeskApi; lists: () => number } {
  let n = 0;
  const api: VmdeskApi = {
    call: (method, params) => {
      if (method === 'vm.list') n++;
      return fake.call(method, params);
    },
    onEvent: (l) => fake.onEvent(l),
    onConnection: (l) => fake.onConnection(l),
    openStream: (name, params) => fake.openStream(name, params),
  };
  return { api, lists: () => n };
}

const byName = (name: string): VmSummary => {
  const vm = Object.values(store.getState().vms).find((v) => v.name === name);
  if (!vm) throw new Error(`no ${name}`);
  return vm;
};

describe('the store', () => {
  let fake: FakeApi;
  let disconnect: () => void;
  let lists: () => number;

  beforeEach(async () => {
    resetStore();
    fake = createFakeApi({ latencyMs: 0 });
    const c = counted(fake);
    lists = c.lists;
    disconnect = connectStore(c.api);
    await until(() => store.getState().listLoaded);
  });
  afterEach(() => disconnect());

  it('loads the list when the connection opens and selects the first VM by name', () => {
    const s = store.getState();
    expect(Object.keys(s.vms)).toHaveLength(4);
    expect(s.selectedId).toBe(sortedVms(s.vms)[0]?.id);
    expect(lists()).toBe(1);
  });

  it('replaces the whole summary on vm.changed', () => {
    const before = byName('debian-web');
    fake.emitEvent('vm.changed', { ...before, state: 'paused', accel: undefined });
    const after = store.getState().vms[before.id];
    expect(after).not.toBe(before);
    expect(after?.state).toBe('paused');
    expect(after?.accel).toBeUndefined();
  });

  it('removes a VM on vm.removed, clears the selection and remembers its name', () => {
    const vm = byName('fedora-41-workstation');
    selectVm(vm.id);
    fake.emitEvent('vm.removed', { id: vm.id });
    const s = store.getState();
    expect(s.vms[vm.id]).toBeUndefined();
    expect(s.selectedId).toBeNull();
    expect(s.removed).toEqual({ id: vm.id, name: 'fedora-41-workstation' });
  });

  it('keeps the selection when another VM is removed', () => {
    const keep = byName('debian-web');
    selectVm(keep.id);
    fake.emitEvent('vm.removed', { id: byName('fedora-41-workstation').id });
    expect(store.getState().selectedId).toBe(keep.id);
    expect(store.getState().removed).toBeNull();
  });

  it('shows "Reconnecting" state and refetches vm.list after a reconnect', async () => {
    fake.simulateReconnect(30);
    expect(store.getState().connection).toBe('connecting');
    expect(store.getState().wasOpen).toBe(true);
    await until(() => store.getState().connection === 'open');
    await until(() => lists() === 2);
  });

  it('lets events that arrive during a vm.list win over the (older) list', async () => {
    const vm = byName('debian-web');
    const pending = refetchVms();
    applyVmChanged({ ...vm, state: 'stopping' });
    await pending;
    expect(store.getState().vms[vm.id]?.state).toBe('stopping');
  });

  it('applies the summary a call returns and reports a refused call with the driver message', async () => {
    const vm = byName('debian-web');
    await runVmAction(vm.id, 'pause');
    expect(store.getState().vms[vm.id]?.state).toBe('paused');
    await runVmAction(vm.id, 'pause');
    expect(store.getState().error).toMatch(/paused; it can be paused only when running/);
    expect(store.getState().busy[vm.id]).toBeUndefined();
  });

  it('selects the new VM after vm.define', async () => {
    const vm = await defineVm({ name: 'new-one', memoryMiB: 1024, cpus: 1 });
    expect(store.getState().selectedId).toBe(vm.id);
    expect(store.getState().vms[vm.id]?.name).toBe('new-one');
  });

  it('selects the neighbour after deleting the selected VM', async () => {
    const order = sortedVms(store.getState().vms).map((v) => v.name);
    const fedora = byName('fedora-41-workstation');
    selectVm(fedora.id);
    expect(await deleteVm(fedora.id, false)).toBe(true);
    const next = store.getState().selectedId;
    expect(next).toBe(byName(order[order.indexOf('fedora-41-workstation') + 1]!).id);
    expect(store.getState().removed).toBeNull();
  });
});
