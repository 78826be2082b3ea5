import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { createFakeApi } from '../../dev/fake-api.js';
import { connectStore, resetStore, selectVm } from '../../store/actions.js';
import { store } from '../../store/store.js';
import { openConsole, runCommand } from './commands.js';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const inState = (state: VmSummary['state']): VmSummary => {
  const vm = Object.values(store.getState().vms).find((v) => v.state === state && !v.host);
  if (!vm) throw new Error(`the fake has no local ${state} VM`);
  return vm;
};

let disconnect: () => void;
beforeEach(async () => {
  resetStore();
  disconnect = connectStore(createFakeApi({ latencyMs: 0 }));
  await until(() => store.getState().listLoaded && store.getState().connection === 'open');
});
afterEach(() => disconnect());

describe('runCommand', () => {
  it('opens the New VM form', () => {
    expect(runCommand('newVm')).toBe(true);
    expect(store.getState().dialog).toBe('new-vm');
  });

  it('asks to confirm deleting the selected stopped VM, and does nothing for a running one', () => {
    selectVm(inState('running').id);
    expect(runCommand('delete')).toBe(false);
    expect(store.getState().dialog).toBeNull();
    const stopped = inState('stopped');
    selectVm(stopped.id);
    expect(runCommand('delete')).toBe(true);
    expect(store.getState().dialog).toBe('delete');
    expect(store.getState().vms[stopped.id]).toBeDefined(); // only the confirmation deletes
  });

  it('runs a menu command on the VM the menu showed, even when the page selected another meanwhile', async () => {
    const running = inState('running');
    selectVm(inState('stopped').id);
    expect(runCommand('pause', running.id)).toBe(true);
    await until(() => store.getState().vms[running.id]?.state === 'paused');
    expect(runCommand('pause', running.id)).toBe(false); // paused VMs do not pause
  });

  it('shows the tab a View command names, and selects its VM', () => {
    const vm = inState('running');
    expect(runCommand('showSerial', vm.id)).toBe(true);
    expect(store.getState()).toMatchObject({ selectedId: vm.id, tab: 'serial' });
    expect(runCommand('showLogs')).toBe(true);
    expect(store.getState().tab).toBe('logs');
  });

  it('asks the Snapshots tab for its Take dialog', () => {
    const vm = inState('stopped');
    expect(runCommand('snapshot', vm.id)).toBe(true);
    expect(store.getState()).toMatchObject({ selectedId: vm.id, tab: 'snapshots', takeSnapshotFor: vm.id });
  });

  it('does nothing with a VM command when no VM is selected, or with the main process’s own', () => {
    selectVm(null);
    for (const c of ['start', 'delete', 'showScreen', 'snapshot', 'openLogsFolder'] as const)
      expect(runCommand(c), c).toBe(false);
  });
});

describe('openConsole (the tray)', () => {
  it('shows the VM’s screen, or its serial console when it has no display', () => {
    const vm = inState('running');
    openConsole(vm.id);
    const expected = vm.definition?.display === 'none' ? 'serial' : 'screen';
    expect(store.getState()).toMatchObject({ selectedId: vm.id, tab: expected });
  });
});
