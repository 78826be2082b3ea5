import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmdeskApi } from '../../main/common/api.js';
import type { HostConnection } from '../../main/common/connection-types.js';
import type { VmSummary } from '../../main/common/vm-types.js';
import { createFakeApi, type FakeApi } from '../dev/fake-api.js';
import { SAMPLE_SYSTEM_ID } from '../dev/fake-data.js';
import {
  applyHostChanged,
  applyVmChanged,
  applyVmRemoved,
  connectHost,
  connectStore,
  disconnectHost,
  reconnectHost,
  defineVm,
  deleteVm,
  refetchVms,
  resetStore,
  runVmAction,
  selectVm,
  showError,
} from './actions.js';
import { groupVms, listedVms, sortedVms, store, visibleError } from './store.js';
import { VmdeskError } from '../../main/common/errors.js';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** The fake, with vm.list calls counted (and their params kept). */
function counted(fake: FakeApi): { api: VmdeskApi; lists: () => number; listParams: unknown[] } {
  let n = 0;
  const listParams: unknown[] = [];
  const api: VmdeskApi = {
    call: (method, params) => {
      if (method === 'vm.list') {
        n++;
        listParams.push(params);
      }
      return fake.call(method, params);
    },
    onEvent: (l) => fake.onEvent(l),
    onConnection: (l) => fake.onConnection(l),
    openStream: (name, params) => fake.openStream(name, params),
  };
  return { api, lists: () => n, listParams };
}

/** A fresh store on a fresh fake (no latency), once the list and the hosts are in. */
async function connectedStore(): Promise<{ fake: FakeApi; disconnect: () => void } & ReturnType<typeof counted>> {
  resetStore();
  const fake = createFakeApi({ latencyMs: 0 });
  const c = counted(fake);
  const disconnect = connectStore(c.api);
  await until(() => store.getState().listLoaded && store.getState().hosts.length > 0);
  return { fake, disconnect, ...c };
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
    ({ fake, disconnect, lists } = await connectedStore());
  });
  afterEach(() => disconnect());

  it('loads the list when the connection opens and selects the first VM of this computer by name', () => {
    const s = store.getState();
    expect(Object.keys(s.vms)).toHaveLength(6);
    expect(s.selectedId).toBe(sortedVms(s.vms).filter((v) => !v.host)[0]?.id);
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
    const order = listedVms(store.getState().vms, store.getState().hosts).map((v) => v.name);
    const fedora = byName('fedora-41-workstation');
    selectVm(fedora.id);
    expect(await deleteVm(fedora.id, false)).toBe(true);
    const next = store.getState().selectedId;
    expect(next).toBe(byName(order[order.indexOf('fedora-41-workstation') + 1]!).id);
    expect(store.getState().removed).toBeNull();
  });
});

const conn = (over: Partial<HostConnection> & Pick<HostConnection, 'id'>): HostConnection => ({
  uri: `qemu+ssh://root@${over.id}/system`,
  label: over.id,
  kind: 'libvirt',
  state: 'connected',
  remembered: true,
  ...over,
});
const vmOn = (name: string, host?: string): VmSummary => ({
  id: host ? `${host}/${name}` : name,
  name,
  state: 'stopped',
  file: `/f/${name}`,
  ...(host ? { host: { id: host, label: host, uri: `qemu+ssh://root@${host}/system`, domain: name } } : {}),
});
const byId = (list: VmSummary[]) => Object.fromEntries(list.map((v) => [v.id, v]));

describe('the VM list by host', () => {
  it('puts this computer first, even without VMs, then the connections in the driver order, each by name', () => {
    const hosts = [conn({ id: 'local', kind: 'local', label: 'This computer' }), conn({ id: 'b' }), conn({ id: 'a' })];
    const groups = groupVms(byId([vmOn('zed', 'a'), vmOn('Alpha', 'a'), vmOn('mid', 'b')]), hosts);
    expect(groups.map((g) => [g.label, g.vms.map((v) => v.name)])).toEqual([
      ['This computer', []],
      ['b', ['mid']],
      ['a', ['Alpha', 'zed']],
    ]);
  });

  it('gives a VM of a host it does not know yet a group of its own, named by the VM', () => {
    const groups = groupVms(byId([vmOn('x', 'lv-new'), vmOn('here')]), []);
    expect(groups.map((g) => [g.id, g.label, g.host, g.vms.length])).toEqual([
      ['local', 'This computer', undefined, 1],
      ['lv-new', 'lv-new', undefined, 1],
    ]);
  });

  it('orders the list (arrow keys, the next VM after a delete) by host, then by name', () => {
    const hosts = [conn({ id: 'local', kind: 'local' }), conn({ id: 'h' })];
    const order = listedVms(byId([vmOn('a', 'h'), vmOn('b'), vmOn('c')]), hosts).map((v) => v.name);
    expect(order).toEqual(['b', 'c', 'a']);
  });
});

describe('host connections in the store', () => {
  let fake: FakeApi;
  let disconnect: () => void;
  let listParams: unknown[];
  const hostOf = (id: string) => store.getState().hosts.find((h) => h.id === id);
  const vmsOf = (id: string) => Object.values(store.getState().vms).filter((v) => v.host?.id === id);

  beforeEach(async () => {
    ({ fake, disconnect, listParams } = await connectedStore());
  });
  afterEach(() => disconnect());

  it('reads the connections when the connection to vmdesk opens, this computer first', () => {
    const hosts = store.getState().hosts;
    expect(hosts.map((h) => [h.id, h.state])).toEqual([
      ['local', 'connected'],
      [SAMPLE_SYSTEM_ID, 'connected'],
      ['lv-b7f30e21', 'error'],
    ]);
    expect(
      vmsOf(SAMPLE_SYSTEM_ID)
        .map((v) => v.name)
        .sort(),
    ).toEqual(['openwrt-router', 'ubuntu-lab']);
  });

  it('reads the connections again after a reconnect', async () => {
    store.setState({ hosts: [] });
    fake.simulateReconnect(20);
    await until(() => store.getState().connection === 'open' && store.getState().hosts.length === 3);
  });

  it('adds a connection it hears of at the end and replaces a known one in place', () => {
    applyHostChanged(conn({ id: 'lv-00000001', state: 'connecting' }));
    applyHostChanged({ ...hostOf(SAMPLE_SYSTEM_ID)!, label: 'renamed' });
    expect(store.getState().hosts.map((h) => h.id)).toEqual(['local', SAMPLE_SYSTEM_ID, 'lv-b7f30e21', 'lv-00000001']);
    expect(hostOf(SAMPLE_SYSTEM_ID)?.label).toBe('renamed');
  });

  it('takes the VMs of a host that dropped out of the list, and leaves nothing selected if one was', () => {
    const router = vmsOf(SAMPLE_SYSTEM_ID).find((v) => v.name === 'openwrt-router')!;
    selectVm(router.id);
    applyHostChanged({ ...hostOf(SAMPLE_SYSTEM_ID)!, state: 'error', error: 'End of file while reading data' });
    expect(vmsOf(SAMPLE_SYSTEM_ID)).toEqual([]);
    expect(hostOf(SAMPLE_SYSTEM_ID)?.error).toBe('End of file while reading data');
    const s = store.getState();
    expect(s.selectedId).toBeNull();
    // Not "deleted": the VM is still there, on a host vmdesk cannot see now.
    expect(s.removed).toBeNull();
    expect(Object.values(s.vms).filter((v) => !v.host)).toHaveLength(4);
  });

  it('forgets a removed connection and its VMs', () => {
    applyHostChanged({ ...hostOf(SAMPLE_SYSTEM_ID)!, removed: true });
    expect(hostOf(SAMPLE_SYSTEM_ID)).toBeUndefined();
    expect(vmsOf(SAMPLE_SYSTEM_ID)).toEqual([]);
  });

  it('reads the VMs of a host that comes up (only that host), keeping the others', async () => {
    applyHostChanged({ ...hostOf(SAMPLE_SYSTEM_ID)!, state: 'disconnected' });
    expect(vmsOf(SAMPLE_SYSTEM_ID)).toEqual([]);
    const before = listParams.length;
    applyHostChanged({ ...hostOf(SAMPLE_SYSTEM_ID)!, state: 'connected' });
    await until(() => vmsOf(SAMPLE_SYSTEM_ID).length === 2);
    expect(listParams.slice(before)).toEqual([{ host: SAMPLE_SYSTEM_ID }]);
    expect(Object.values(store.getState().vms).filter((v) => !v.host)).toHaveLength(4);
  });

  it('drops the VMs a host list brought of a host that went down while it was on its way', async () => {
    const sys = hostOf(SAMPLE_SYSTEM_ID)!;
    const pending = refetchVms();
    applyHostChanged({ ...sys, state: 'error', error: 'gone' });
    await pending;
    expect(vmsOf(SAMPLE_SYSTEM_ID)).toEqual([]);
  });

  it('connects a new host: it appears connecting, then connected', async () => {
    const states: string[] = [];
    const off = store.subscribe((s) => {
      const h = s.hosts.find((x) => x.uri === 'qemu:///session');
      if (h && h.state !== states.at(-1)) states.push(h.state);
    });
    const c = await connectHost('qemu:///session', true);
    off();
    expect(c).toMatchObject({ uri: 'qemu:///session', state: 'connected', remembered: true });
    expect(states).toEqual(['connecting', 'connected']);
    expect(store.getState().hosts.at(-1)).toMatchObject({ uri: 'qemu:///session', state: 'connected' });
  });

  it('throws a refused connect to the form, with what to do, and shows the host failed', async () => {
    await expect(connectHost('qemu+ssh://root@down.example/system', false)).rejects.toThrow(
      /No route to host.*Check that down\.example is up/,
    );
    expect(store.getState().hosts.at(-1)).toMatchObject({
      state: 'error',
      error: expect.stringMatching(/^Cannot recv/),
    });
  });

  it('reconnects a failed host and keeps the refusal next to it while it still fails', async () => {
    await reconnectHost('lv-b7f30e21');
    const s = store.getState();
    expect(s.hostErrors['lv-b7f30e21']).toMatch(/No route to host/);
    expect(s.hostBusy['lv-b7f30e21']).toBeUndefined();
  });

  it('reconnects a dropped host and reads its VMs', async () => {
    await disconnectHost(SAMPLE_SYSTEM_ID, false);
    expect(hostOf(SAMPLE_SYSTEM_ID)?.state).toBe('disconnected');
    expect(vmsOf(SAMPLE_SYSTEM_ID)).toEqual([]);
    await reconnectHost(SAMPLE_SYSTEM_ID);
    expect(hostOf(SAMPLE_SYSTEM_ID)?.state).toBe('connected');
    await until(() => vmsOf(SAMPLE_SYSTEM_ID).length === 2);
  });

  it('forgets a host: it leaves the list with its VMs', async () => {
    await disconnectHost(SAMPLE_SYSTEM_ID, true);
    expect(hostOf(SAMPLE_SYSTEM_ID)).toBeUndefined();
    expect(vmsOf(SAMPLE_SYSTEM_ID)).toEqual([]);
    expect(store.getState().hostBusy).toEqual({});
  });

  it('keeps a refused disconnect next to the host', async () => {
    await disconnectHost('lv-ffffffff', true);
    expect(store.getState().hostErrors['lv-ffffffff']).toMatch(/There is no connection/);
  });

  it('runs actions on a libvirt VM like on any VM, and shows a refused one in the driver words', async () => {
    const lab = vmsOf(SAMPLE_SYSTEM_ID).find((v) => v.name === 'ubuntu-lab')!;
    await runVmAction(lab.id, 'start');
    await until(() => store.getState().vms[lab.id]?.state === 'running');
    await expect(fake.call('vm.update', { vm: lab.id, memoryMiB: 512 })).rejects.toThrow(
      /virsh -c qemu:\/\/\/system edit ubuntu-lab/,
    );
  });
});

describe('errors about one VM', () => {
  let disconnect: () => void;
  /** A fake whose vm.start of `broken` fails the way a missing disk does. */
  async function withFailingStart(): Promise<{ broken: VmSummary; other: VmSummary }> {
    resetStore();
    const fake = createFakeApi({ latencyMs: 0 });
    const api: VmdeskApi = {
      call: (method, params) => {
        if (method === 'vm.start' && (params as { vm: string }).vm === store.getState().selectedId && failing)
          return Promise.reject(
            new VmdeskError('qemu-failed', 'QEMU could not open /nowhere/disk.qcow2: check that the file exists.'),
          );
        return fake.call(method, params);
      },
      onEvent: (l) => fake.onEvent(l),
      onConnection: (l) => fake.onConnection(l),
      openStream: (name, params) => fake.openStream(name, params),
    };
    disconnect = connectStore(api);
    await until(() => store.getState().listLoaded && store.getState().hosts.length > 0);
    const broken = await defineVm({ name: 'aaa-start-fails', memoryMiB: 64, cpus: 1 });
    const other = await defineVm({ name: 'aab-next', memoryMiB: 64, cpus: 1 });
    selectVm(broken.id);
    return { broken, other };
  }
  let failing = true;
  beforeEach(() => {
    failing = true;
  });
  afterEach(() => disconnect());

  it('shows a failed start with the VM it is about', async () => {
    const { broken } = await withFailingStart();
    await runVmAction(broken.id, 'start');
    expect(store.getState().error).toMatch(/could not open/);
    expect(visibleError(store.getState())).toMatch(/could not open/);
  });

  it('drops the start error of a VM once that VM is deleted, so the next VM shows no banner', async () => {
    const { broken, other } = await withFailingStart();
    await runVmAction(broken.id, 'start');
    expect(await deleteVm(broken.id, false)).toBe(true);
    expect(store.getState().selectedId).toBe(other.id);
    expect(visibleError(store.getState())).toBeNull();
  });

  it('hides the start error of a VM while another VM is selected, and shows it again on coming back', async () => {
    const { broken, other } = await withFailingStart();
    await runVmAction(broken.id, 'start');
    selectVm(other.id);
    expect(visibleError(store.getState())).toBeNull();
    selectVm(broken.id);
    expect(visibleError(store.getState())).toMatch(/could not open/);
  });

  it('drops the error of a VM removed by another client (vm.removed)', async () => {
    const { broken } = await withFailingStart();
    await runVmAction(broken.id, 'start');
    applyVmRemoved(broken.id);
    expect(visibleError(store.getState())).toBeNull();
  });

  it('keeps an error about no VM in particular whatever is selected', async () => {
    const { other } = await withFailingStart();
    showError('The clipboard is not available.');
    selectVm(other.id);
    expect(visibleError(store.getState())).toBe('The clipboard is not available.');
  });
});
