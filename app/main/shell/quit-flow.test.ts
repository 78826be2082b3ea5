import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import type { VmSummary } from '../common/vm-types.js';
import {
  choiceFromResponse,
  quitDialog,
  runQuitFlow,
  SHUTDOWN_TIMEOUT_MS,
  type QuitChoice,
  type ShutdownProgress,
} from './quit-flow.js';
import { FakeLink, vm } from './testing/fake-link.js';

function flow(link: FakeLink, choice: QuitChoice) {
  const asked: VmSummary[][] = [];
  const progress: ShutdownProgress[] = [];
  const run = runQuitFlow({
    link,
    ask: async (live) => {
      asked.push(live);
      return choice;
    },
    onProgress: (p) => progress.push(p),
    timeoutMs: 5000,
  });
  return { run, asked, progress };
}

describe('runQuitFlow', () => {
  const running = () => new FakeLink([vm('web', 'running', 1), vm('db', 'running', 2), vm('old', 'stopped', 3)]);

  it('quits without asking when no VM runs, leaving the driver link closed', async () => {
    const link = new FakeLink([vm('old', 'stopped')]);
    const { run, asked } = flow(link, 'cancel');
    expect(await run).toEqual({ quit: true, failures: [] });
    expect(asked).toEqual([]);
    expect(link.closed).toBe(1);
  });

  it('keep: closes the link and stops nothing', async () => {
    const link = running();
    const { run, asked } = flow(link, 'keep');
    expect(await run).toEqual({ quit: true, failures: [] });
    expect(asked[0]?.map((v) => v.name)).toEqual(['web', 'db']);
    expect(link.actions()).toEqual([]);
    expect(link.closed).toBe(1);
  });

  it('shut down: ACPI shutdown with wait and timeout for each running VM, then quit', async () => {
    const link = running();
    const { run, progress } = flow(link, 'shutdown');
    expect(await run).toEqual({ quit: true, failures: [] });
    expect(link.actions()).toEqual([
      { method: 'vm.shutdown', params: { vm: vm('web', 'running', 1).id, wait: true, timeoutMs: 5000 } },
      { method: 'vm.shutdown', params: { vm: vm('db', 'running', 2).id, wait: true, timeoutMs: 5000 } },
    ]);
    expect(progress).toEqual([
      { done: 0, total: 2 },
      { done: 1, total: 2 },
      { done: 2, total: 2 },
    ]);
    expect(link.closed).toBe(1);
  });

  it('cancel: does nothing at all', async () => {
    const link = running();
    const { run } = flow(link, 'cancel');
    expect(await run).toEqual({ quit: false });
    expect(link.actions()).toEqual([]);
    expect(link.closed).toBe(0);
  });

  it('resumes a paused VM before shutting it down, and forces off one that is starting', async () => {
    const paused = vm('p', 'paused', 1);
    const starting = vm('s', 'starting', 2);
    const link = new FakeLink([paused, starting]);
    await flow(link, 'shutdown').run;
    expect(link.actions()).toEqual([
      { method: 'vm.resume', params: { vm: paused.id } },
      { method: 'vm.stop', params: { vm: starting.id } },
      { method: 'vm.shutdown', params: { vm: paused.id, wait: true, timeoutMs: 5000 } },
    ]);
  });

  it('forces off a VM whose shutdown fails, and reports one that cannot be stopped at all', async () => {
    const link = running();
    link.answers.set('vm.shutdown', () => {
      throw new VmdeskError('invalid-state', 'busy');
    });
    link.answers.set('vm.stop', (p) => {
      if ((p as { vm: string }).vm === vm('db', 'running', 2).id)
        throw new VmdeskError('qemu-failed', 'QEMU does not answer.');
      return vm('web', 'stopped', 1);
    });
    const { run } = flow(link, 'shutdown');
    expect(await run).toEqual({ quit: true, failures: [{ name: 'db', message: 'QEMU does not answer.' }] });
    expect(link.actions().map((c) => c.method)).toEqual(['vm.shutdown', 'vm.shutdown', 'vm.stop', 'vm.stop']);
  });
});

describe('quitDialog', () => {
  it('maps its buttons to keep, shut down and cancel (Escape = cancel)', () => {
    const d = quitDialog([vm('web', 'running')]);
    expect(d.buttons).toEqual(['Keep running in the background', 'Shut down and quit', 'Cancel']);
    expect(d.buttons.map((_, i) => choiceFromResponse(i))).toEqual(['keep', 'shutdown', 'cancel']);
    expect(choiceFromResponse(d.cancelId)).toBe('cancel');
    expect(d.message).toBe('"web" is still running.');
    expect(d.detail).toContain(`${SHUTDOWN_TIMEOUT_MS / 1000} seconds`);
  });

  it('names at most five VMs', () => {
    const vms = Array.from({ length: 7 }, (_, i) => vm(`vm${i}`, 'running', i + 1));
    expect(quitDialog(vms).message).toBe('7 VMs are still running: vm0, vm1, vm2, vm3, vm4 and 2 more.');
  });
});
