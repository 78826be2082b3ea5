import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../common/vm-types.js';
import { tempAppPaths } from '../paths/testing/temp-paths.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { FakeHost } from './testing/fake-host.js';
import { VmManager } from './vm-manager.js';
import { AUTOSTART_MARKER, managerAutostartDriver, runAutostart, type AutostartDriver } from './autostart.js';

const roots: string[] = [];
const managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.detachAll();
});
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

async function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vas-'));
  roots.push(root);
  const paths = tempAppPaths(root);
  fs.mkdirSync(paths.runtime, { recursive: true, mode: 0o700 });
  const m = new VmManager(paths, new FakeHost(), {
    launcher: new FakeQemuLauncher(),
    rungTimeoutMs: 200,
    startTimeoutMs: 2000,
  });
  managers.push(m);
  await m.init();
  return { m, paths };
}

/** A driver whose VMs are given and whose starts fail for the names in `failing`. */
class ListedDriver implements AutostartDriver {
  started: string[] = [];
  lines: string[] = [];
  vmLines: string[] = [];
  constructor(
    readonly vms: VmSummary[],
    readonly failing: Set<string>,
  ) {}
  list() {
    return this.vms;
  }
  async start(id: string) {
    const vm = this.vms.find((v) => v.id === id)!;
    if (this.failing.has(vm.name)) throw new Error(`The disk of "${vm.name}" is gone. Add a disk, then start it.`);
    this.started.push(vm.name);
  }
  log(line: string) {
    this.lines.push(line);
  }
  vmLog(id: string, line: string) {
    this.vmLines.push(`${id}: ${line}`);
  }
}

describe('runAutostart', () => {
  it('starts the stopped VMs flagged autostart and no other, once per runtime dir (login session)', async () => {
    const { m, paths } = await setup();
    const a = await m.define({ name: 'flagged', memoryMiB: 64, cpus: 1 });
    await m.define({ name: 'plain', memoryMiB: 64, cpus: 1 });
    await m.update({ vm: a.id, autostart: true });
    const first = await runAutostart(paths.runtime, managerAutostartDriver(m));
    expect(first).toMatchObject({ ran: true, started: [a.id], failed: [], skipped: [] });
    expect(m.get('flagged').state).toBe('running');
    expect(m.get('plain').state).toBe('stopped');
    expect(fs.existsSync(path.join(paths.runtime, AUTOSTART_MARKER))).toBe(true);

    // The user stops it; the driver starts again in the same session: it stays stopped.
    await m.stop({ vm: 'flagged' });
    const again = await runAutostart(paths.runtime, managerAutostartDriver(m));
    expect(again).toMatchObject({ ran: false, started: [] });
    expect(m.get('flagged').state).toBe('stopped');

    // A new login session (the runtime dir emptied): started again.
    fs.rmSync(path.join(paths.runtime, AUTOSTART_MARKER));
    expect((await runAutostart(paths.runtime, managerAutostartDriver(m))).started).toEqual([a.id]);
    expect(m.get('flagged').state).toBe('running');
  });

  it('leaves a flagged VM that already runs (adopted) as it is', async () => {
    const { m, paths } = await setup();
    const a = await m.define({ name: 'up', memoryMiB: 64, cpus: 1 });
    await m.update({ vm: a.id, autostart: true });
    await m.start({ vm: a.id });
    const r = await runAutostart(paths.runtime, managerAutostartDriver(m));
    expect(r).toMatchObject({ ran: true, started: [], skipped: [{ id: a.id, why: 'it is running' }] });
    expect(m.get('up').state).toBe('running');
  });

  it('leaves no marker when nothing is flagged: a VM flagged later in the session starts at the next driver start', async () => {
    const { m, paths } = await setup();
    const a = await m.define({ name: 'later', memoryMiB: 64, cpus: 1 });
    expect((await runAutostart(paths.runtime, managerAutostartDriver(m))).ran).toBe(false);
    expect(fs.readdirSync(paths.runtime)).toEqual([]);
    await m.update({ vm: a.id, autostart: true });
    expect((await runAutostart(paths.runtime, managerAutostartDriver(m))).started).toEqual([a.id]);
    expect(m.get('later').state).toBe('running');
  });

  it('logs a VM that fails to start, in the driver log and its own, and still starts the others', async () => {
    const { m, paths } = await setup();
    const ok = await m.define({ name: 'ok', memoryMiB: 64, cpus: 1 });
    const bad = await m.define({ name: 'bad', memoryMiB: 64, cpus: 1 });
    await m.update({ vm: ok.id, autostart: true });
    await m.update({ vm: bad.id, autostart: true });
    // A fake: making a real start fail for one VM only is the launcher's business, not this one's.
    const driver = new ListedDriver(m.list(), new Set(['bad']));
    const r = await runAutostart(paths.runtime, driver);
    expect(driver.started).toEqual(['ok']);
    expect(r.failed).toEqual([
      { id: bad.id, name: 'bad', message: 'The disk of "bad" is gone. Add a disk, then start it.' },
    ]);
    expect(driver.lines).toContain(
      'autostart: "bad" did not start: The disk of "bad" is gone. Add a disk, then start it.',
    );
    expect(driver.vmLines).toEqual([
      `${bad.id}: could not start at login (Start with vmdesk): The disk of "bad" is gone. Add a disk, then start it.`,
    ]);
  });

  it('starts nothing and says so when the runtime dir cannot take the marker', async () => {
    const { m, paths } = await setup();
    const a = await m.define({ name: 'x', memoryMiB: 64, cpus: 1 });
    await m.update({ vm: a.id, autostart: true });
    const driver = new ListedDriver(m.list(), new Set());
    const r = await runAutostart(path.join(paths.runtime, 'missing', 'dir'), driver);
    expect(r.ran).toBe(false);
    expect(driver.started).toEqual([]);
    expect(driver.lines.join('\n')).toMatch(/could not write .*autostart\.done/);
  });
});
