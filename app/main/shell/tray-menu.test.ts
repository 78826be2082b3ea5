import { describe, expect, it } from 'vitest';
import { VM_STATES } from '../common/vm-types.js';
import { vm } from './testing/fake-link.js';
import { applyVmEvent, buildTrayMenu, runningSummary, type TrayMenu, type TrayMenuItem } from './tray-menu.js';

/** The template as indented text: `(off)` disabled, `-> x` the action. */
function render(menu: TrayMenu): string {
  const lines = [`tooltip: ${menu.tooltip}`];
  const walk = (items: TrayMenuItem[], depth: number) => {
    for (const i of items) {
      const pad = '  '.repeat(depth);
      if (i.type === 'separator') {
        lines.push(`${pad}---`);
        continue;
      }
      const a = i.action;
      const act = !a
        ? ''
        : a.kind === 'call'
          ? ` -> ${a.method}(${a.vm.slice(-2)})`
          : a.kind === 'console'
            ? ` -> console(${a.vm.slice(-2)})`
            : a.kind === 'loginItem'
              ? ` -> loginItem(${a.enabled ? 'on' : 'off'})`
              : ` -> ${a.kind}`;
      const box = i.type === 'checkbox' ? (i.checked ? '[x] ' : '[ ] ') : '';
      lines.push(`${pad}${box}${i.label}${i.enabled === false ? ' (off)' : ''}${act}`);
      if (i.submenu) walk(i.submenu, depth + 1);
    }
  };
  walk(menu.items, 0);
  return '\n' + lines.join('\n') + '\n';
}

describe('buildTrayMenu', () => {
  it('offers only Show and Quit when there are no VMs', () => {
    expect(render(buildTrayMenu([], { platform: 'linux' }))).toMatchInlineSnapshot(`
      "
      tooltip: vmdesk — No VMs yet
      No VMs yet (off)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit
      "
    `);
  });

  it('offers what a single VM allows, in each state', () => {
    const all = VM_STATES.map((state) => render(buildTrayMenu([vm('web', state)], { platform: 'linux' }))).join('');
    expect(all).toMatchInlineSnapshot(`
      "
      tooltip: vmdesk — Nothing running
      Nothing running (off)
      ---
      web — stopped
        Start -> vm.start(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit

      tooltip: vmdesk — 1 running
      1 running (off)
      ---
      web — starting…
        Force off -> vm.stop(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit

      tooltip: vmdesk — 1 running
      1 running (off)
      ---
      web — running
        Open console -> console(01)
        ---
        Pause -> vm.pause(01)
        Shut down -> vm.shutdown(01)
        Force off -> vm.stop(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit

      tooltip: vmdesk — 1 paused
      1 paused (off)
      ---
      web — paused
        Open console -> console(01)
        ---
        Resume -> vm.resume(01)
        Force off -> vm.stop(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit

      tooltip: vmdesk — 1 running
      1 running (off)
      ---
      web — shutting down…
        Force off -> vm.stop(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit

      tooltip: vmdesk — Nothing running
      Nothing running (off)
      ---
      web — crashed
        Start -> vm.start(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit

      tooltip: vmdesk — Nothing running
      Nothing running (off)
      ---
      web — cannot be read
        Its definition cannot be read: see the window (off)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit
      "
    `);
  });

  it('lists five VMs by name with the number running at the top', () => {
    const vms = [
      vm('zeta', 'stopped', 1),
      vm('Alpha', 'running', 2),
      vm('beta', 'paused', 3),
      vm('gamma', 'running', 4),
      vm('delta', 'crashed', 5),
    ];
    expect(render(buildTrayMenu(vms, { platform: 'linux' }))).toMatchInlineSnapshot(`
      "
      tooltip: vmdesk — 2 running, 1 paused
      2 running, 1 paused (off)
      ---
      Alpha — running
        Open console -> console(02)
        ---
        Pause -> vm.pause(02)
        Shut down -> vm.shutdown(02)
        Force off -> vm.stop(02)
      beta — paused
        Open console -> console(03)
        ---
        Resume -> vm.resume(03)
        Force off -> vm.stop(03)
      delta — crashed
        Start -> vm.start(05)
      gamma — running
        Open console -> console(04)
        ---
        Pause -> vm.pause(04)
        Shut down -> vm.shutdown(04)
        Force off -> vm.stop(04)
      zeta — stopped
        Start -> vm.start(01)
      ---
      Show vmdesk -> show
      Quit vmdesk -> quit
      "
    `);
  });

  it('disables every VM action and Quit while quitting, and says why', () => {
    const menu = buildTrayMenu([vm('web', 'running')], { platform: 'darwin', busy: 'Shutting down VMs… 0 of 1 off' });
    expect(render(menu)).toMatchInlineSnapshot(`
      "
      tooltip: vmdesk — Shutting down VMs… 0 of 1 off
      Shutting down VMs… 0 of 1 off (off)
      ---
      web — running
        Open console (off) -> console(01)
        ---
        Pause (off) -> vm.pause(01)
        Shut down (off) -> vm.shutdown(01)
        Force off (off) -> vm.stop(01)
      ---
      Show vmdesk -> show
      Quit vmdesk (off) -> quit
      "
    `);
  });

  it('escapes & on Linux (mnemonics) but not on macOS', () => {
    expect(buildTrayMenu([vm('R&D', 'stopped')], { platform: 'linux' }).items[2]?.label).toBe('R&&D — stopped');
    expect(buildTrayMenu([vm('R&D', 'stopped')], { platform: 'darwin' }).items[2]?.label).toBe('R&D — stopped');
  });

  it('leaves VMs beyond the limit to the window', () => {
    const vms = Array.from({ length: 4 }, (_, i) => vm(`vm${i}`, 'stopped', i + 1));
    const labels = buildTrayMenu(vms, { platform: 'linux', maxVms: 2 }).items.map((i) => i.label);
    expect(labels).toContain('2 more in the window…');
    expect(labels.filter((l) => l?.startsWith('vm'))).toEqual(['vm0 — stopped', 'vm1 — stopped']);
  });
});

describe('buildTrayMenu: Start vmdesk at login', () => {
  it('shows the checkbox ticked or not, and its click asks for the other state', () => {
    expect(render(buildTrayMenu([vm('a', 'stopped', 1)], { platform: 'linux', loginItem: false })))
      .toMatchInlineSnapshot(`
        "
        tooltip: vmdesk — Nothing running
        Nothing running (off)
        ---
        a — stopped
          Start -> vm.start(01)
        ---
        [ ] Start vmdesk at login -> loginItem(on)
        Show vmdesk -> show
        Quit vmdesk -> quit
        "
      `);
    const on = buildTrayMenu([], { platform: 'darwin', loginItem: true });
    const item = on.items.find((i) => i.label === 'Start vmdesk at login');
    expect(item).toEqual({
      label: 'Start vmdesk at login',
      type: 'checkbox',
      checked: true,
      action: { kind: 'loginItem', enabled: false },
    });
  });

  it('leaves the checkbox out where the login item cannot be set (no state given)', () => {
    const m = buildTrayMenu([], { platform: 'win32' });
    expect(m.items.some((i) => i.type === 'checkbox')).toBe(false);
  });

  it('keeps the checkbox usable while quitting (it is not a VM action)', () => {
    const m = buildTrayMenu([vm('a', 'running', 1)], {
      platform: 'linux',
      loginItem: true,
      busy: 'Shutting down 1 VM…',
    });
    expect(m.items.find((i) => i.type === 'checkbox')?.enabled).not.toBe(false);
  });
});

describe('runningSummary', () => {
  it('counts VMs with a QEMU process, paused ones apart', () => {
    expect(runningSummary([])).toBe('No VMs yet');
    expect(runningSummary([vm('a', 'stopped')])).toBe('Nothing running');
    expect(runningSummary([vm('a', 'running', 1), vm('b', 'starting', 2), vm('c', 'paused', 3)])).toBe(
      '2 running, 1 paused',
    );
  });
});

describe('applyVmEvent', () => {
  it('replaces a changed VM, adds a new one and drops a removed one', () => {
    const a = vm('a', 'stopped', 1);
    const b = vm('b', 'stopped', 2);
    let list = applyVmEvent([a], 'vm.changed', { ...a, state: 'running' });
    expect(list).toEqual([{ ...a, state: 'running' }]);
    list = applyVmEvent(list, 'vm.changed', b);
    expect(list.map((v) => v.name)).toEqual(['a', 'b']);
    expect(applyVmEvent(list, 'vm.removed', { id: a.id })).toEqual([b]);
  });

  it('keeps the list as it is on a job.progress event (a clone copying: not a VM)', () => {
    const a = vm('a', 'stopped', 1);
    const progress = { jobId: 'j1', vm: a.id, what: 'Copying vda', doneBytes: 1, totalBytes: 2 };
    expect(applyVmEvent([a], 'job.progress', progress)).toEqual([a]);
  });
});
