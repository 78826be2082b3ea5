/**
 * Every state change and failure edge of a VM, driven through the registry with the typed fake
 * launcher (qemu/testing/fake-launcher.ts): the faults a real QEMU cannot produce on demand
 * (E2BIG at spawn, a QEMU that never opens QMP, a `cont` that never answers, SIGTERM ignored,
 * a run record that cannot be written after the spawn). Real QEMU runs the same paths in
 * e2e/driver.int.test.ts and e2e/vm-failures.int.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { VM_STATES, type VmDefinition, type VmState } from '../common/vm-types.js';
import { resolveAppPaths, type AppPaths } from '../paths/app-paths.js';
import { driverFiles, vmFiles } from '../paths/vm-files.js';
import { FakeQemuLauncher } from '../qemu/testing/fake-launcher.js';
import { DriverLog } from './driver-log.js';
import { intentFile, writeIntent } from './intents.js';
import { FakeHost } from './testing/fake-host.js';
import { fakeQemuCaps } from '../host/testing/caps.js';
import type { QemuCaps } from '../common/host-types.js';
import { assertTransition, canTransition, TRANSITIONS } from './transitions.js';
import { VmManager, type VmManagerOptions } from './vm-manager.js';

let roots: string[] = [];
let managers: VmManager[] = [];
afterEach(async () => {
  for (const m of managers) await m.detachAll();
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  roots = [];
  managers = [];
});

function sandbox(): AppPaths {
  // Short: the VM's sockets live under it and must fit in 108 bytes.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vi-'));
  roots.push(root);
  const env = {
    XDG_CONFIG_HOME: `${root}/c`,
    XDG_DATA_HOME: `${root}/d`,
    XDG_STATE_HOME: `${root}/s`,
    XDG_CACHE_HOME: `${root}/k`,
    XDG_RUNTIME_DIR: `${root}/r`,
  };
  return resolveAppPaths({ env, platform: 'linux', home: root, uid: process.getuid!(), tmpdir: root });
}

/** Every state change any test below made, as "from→to": the table's edges must all be seen. */
const seenEdges = new Set<string>();
afterAll(() => {
  const table = Object.entries(TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from}→${to}`));
  expect(table.filter((e) => !seenEdges.has(e))).toEqual([]);
  expect([...seenEdges].filter((e) => !table.includes(e))).toEqual([]);
});

async function manager(
  paths: AppPaths,
  launcher: FakeQemuLauncher,
  opts: VmManagerOptions = {},
  host = new FakeHost(),
): Promise<VmManager> {
  const m = new VmManager(paths, host, { launcher, rungTimeoutMs: 200, startTimeoutMs: 2000, ...opts });
  managers.push(m);
  await m.init();
  const last = new Map(m.list().map((s) => [s.id, s.state]));
  m.events.on('vm.changed', (s) => {
    const from = last.get(s.id);
    if (from && from !== s.state) seenEdges.add(`${from}→${s.state}`);
    last.set(s.id, s.state);
  });
  return m;
}

async function setup(opts: VmManagerOptions = {}) {
  const paths = sandbox();
  const launcher = new FakeQemuLauncher();
  const host = new FakeHost();
  const m = await manager(paths, launcher, opts, host);
  await m.define({ name: 'vm1', memoryMiB: 64, cpus: 1 });
  const states: VmState[] = [];
  m.events.on('vm.changed', (s) => states.push(s.state));
  return { paths, launcher, host, m, states, files: vmFiles(paths, m.get('vm1').id) };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );

describe('the transition table', () => {
  it('allows exactly the listed changes, and staying put', () => {
    for (const from of VM_STATES) {
      for (const to of VM_STATES) expect(canTransition(from, to)).toBe(from === to || TRANSITIONS[from].includes(to));
    }
  });

  it('refuses an illegal change with both states named', () => {
    expect(() => assertTransition('stopped', 'paused', 'web')).toThrow(
      'Illegal state change of "web" from stopped to paused.',
    );
    expect(() => assertTransition('broken', 'running', 'web')).toThrow(/from broken to running/);
  });
});

describe("a driver's first start, while the host probe runs", () => {
  const real = () => fakeQemuCaps({ binary: '/nonexistent/qemu-system-x86_64', accels: ['tcg'], sandbox: false });
  /** Holds the probe's answer until the early QEMU exists (then runs `then`). */
  const probeAnswersAfterSpawn = (launcher: FakeQemuLauncher, then?: () => void) => async () => {
    await until(() => launcher.procs.length === 1);
    then?.();
  };

  it('keeps the QEMU it launched on the assumed caps when the probed ones give the same command line', async () => {
    const { m, launcher, host, states } = await setup();
    host.assumedCaps = real();
    host.whileProbing = probeAnswersAfterSpawn(launcher);
    const s = await m.start({ vm: 'vm1' });
    expect(s.state).toBe('running');
    expect(launcher.spawnCount).toBe(1);
    expect(launcher.last.commands).toEqual(['qmp_capabilities', 'cont']);
    expect(states).toEqual(['starting', 'running']);
  });

  it('ends that QEMU (it ran nothing) and starts another when the probed caps change the command line', async () => {
    const { m, launcher, host, states, files } = await setup();
    host.assumedCaps = { ...real(), sandbox: true };
    host.whileProbing = probeAnswersAfterSpawn(launcher);
    const s = await m.start({ vm: 'vm1' });
    expect(s.state).toBe('running');
    expect(launcher.procs.map((p) => p.argv.includes('-sandbox'))).toEqual([true, false]);
    expect(launcher.procs[0]!.alive).toBe(false);
    expect(launcher.procs[0]!.commands).not.toContain('cont');
    expect(launcher.last.commands).toEqual(['qmp_capabilities', 'cont']);
    expect(states).toEqual(['starting', 'running']);
    expect(fs.readFileSync(files.driverLog, 'utf8')).toMatch(/probed QEMU capabilities change the command line/);
    expect(JSON.parse(fs.readFileSync(files.runRecord, 'utf8'))).toMatchObject({ pid: launcher.last.pid });
  });

  it('starts again on the probed caps when QEMU refuses the assumed ones, without calling the VM crashed', async () => {
    const { m, launcher, host, states, files } = await setup();
    host.assumedCaps = { ...real(), sandbox: true };
    launcher.script = {
      exitOnStart: { code: 1, stderr: "qemu-system-x86_64: -sandbox on: There is no option group 'sandbox'" },
    };
    host.whileProbing = probeAnswersAfterSpawn(launcher, () => (launcher.script = {}));
    const s = await m.start({ vm: 'vm1' });
    expect(s).toMatchObject({ state: 'running' });
    expect(launcher.spawnCount).toBe(2);
    expect(states).toEqual(['starting', 'running']);
    expect(fs.readFileSync(files.driverLog, 'utf8')).toMatch(/refused the command line.*no option group 'sandbox'/);
  });

  it('ends that QEMU and is stopped again when the probe finds the host unusable', async () => {
    const { m, launcher, host, states, files } = await setup();
    host.assumedCaps = real();
    host.whileProbing = probeAnswersAfterSpawn(launcher, () => {
      throw new VmdeskError('no-qemu', 'qemu-system-x86_64 failed the capability probe. Reinstall QEMU.');
    });
    const err = await rejection(m.start({ vm: 'vm1' }));
    expect((err as Error).message).toMatch(/failed the capability probe/);
    expect(launcher.procs[0]!.alive).toBe(false);
    expect(m.get('vm1').state).toBe('stopped');
    expect(states).toEqual(['starting', 'stopped']);
    expect(fs.existsSync(files.runtimeDir)).toBe(false);
  });

  it('is broken, not stopped, when the definition breaks while the early QEMU waits for the probe', async () => {
    const { m, launcher, host, files } = await setup();
    host.assumedCaps = real();
    host.whileProbing = probeAnswersAfterSpawn(launcher, () => fs.writeFileSync(files.definition, 'nope'));
    expect(await rejection(m.start({ vm: 'vm1' }))).toMatchObject({ code: 'vm-broken' });
    expect(launcher.procs[0]!.alive).toBe(false);
    expect(fs.existsSync(files.runtimeDir)).toBe(false);
    expect(m.get('vm1').state).toBe('broken');
  });

  it('starts no second QEMU when forced off while the early QEMU is still coming up', async () => {
    const { m, launcher, host, files } = await setup();
    host.assumedCaps = real();
    launcher.script = { noQmp: true }; // the early QEMU has not opened its control socket yet
    let stopped: Promise<unknown> | undefined;
    // The force off comes once the probe has answered and the start waits for that QEMU.
    host.whileProbing = probeAnswersAfterSpawn(launcher, () => {
      launcher.script = {};
      setTimeout(() => (stopped = m.stop({ vm: 'vm1' })), 0);
    });
    expect(await rejection(m.start({ vm: 'vm1' }))).toMatchObject({ code: 'cancelled' });
    expect(await stopped).toMatchObject({ state: 'stopped' });
    expect(launcher.spawnCount).toBe(1);
    expect(fs.readFileSync(files.driverLog, 'utf8')).not.toMatch(/refused the command line/);
  });

  it('starts QEMU again, in words, when the early one ended while the probe ran', async () => {
    const { m, launcher, host, files } = await setup();
    host.assumedCaps = real();
    host.whileProbing = async () => {
      await until(() => launcher.procs[0]?.commands.includes('qmp_capabilities') ?? false);
      // Connected (QMP and serial) and then killed, before the probe answered.
      await until(() => /spawned QEMU pid/.test(fs.readFileSync(files.driverLog, 'utf8')));
      launcher.procs[0]!.crash();
      await until(() => /QEMU pid \d+ ended/.test(fs.readFileSync(files.driverLog, 'utf8')));
    };
    const s = await m.start({ vm: 'vm1' });
    expect(s.state).toBe('running');
    expect(launcher.spawnCount).toBe(2);
    expect(fs.readFileSync(files.driverLog, 'utf8')).toMatch(/ended while they were probed; starting it again/);
  });

  it('does not try twice when the early QEMU fails with the command line the probe also gives', async () => {
    const { m, launcher, host } = await setup({ startTimeoutMs: 300 });
    host.assumedCaps = real();
    launcher.script = { noQmp: true }; // hung before its control socket, whatever the caps
    expect(await rejection(m.start({ vm: 'vm1' }))).toMatchObject({ code: 'qemu-failed' });
    expect(launcher.spawnCount).toBe(1);
  });

  it('launches nothing early for a VM with a TPM (its swtpm would start before QEMU)', async () => {
    const { m, launcher, host } = await setup();
    await m.update({ vm: 'vm1', tpm: true }).catch(() => undefined);
    host.assumedCaps = real();
    let spawnedBeforeProbe = -1;
    host.whileProbing = () => void (spawnedBeforeProbe = launcher.spawnCount);
    await rejection(m.start({ vm: 'vm1' })); // no swtpm in this test host
    expect(spawnedBeforeProbe).toBe(0);
  });
});

describe('VmInstance', () => {
  it('starts: stopped → starting → running, with a run record naming the QEMU', async () => {
    const { m, launcher, states, files } = await setup();
    const s = await m.start({ vm: 'vm1' });
    expect(s).toMatchObject({ state: 'running', pid: launcher.last.pid, accel: { accel: 'tcg' } });
    expect(states).toEqual(['starting', 'running']);
    expect(launcher.last.commands).toEqual(['qmp_capabilities', 'cont']);
    expect(JSON.parse(fs.readFileSync(files.runRecord, 'utf8'))).toMatchObject({ pid: launcher.last.pid });
  });

  it('rolls a start refused with E2BIG back to stopped, with nothing left, and says so again on the next try', async () => {
    const { m, launcher, states, files } = await setup();
    launcher.script = { spawnError: 'E2BIG' };
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await rejection(m.start({ vm: 'vm1' }));
      expect(err).toMatchObject({
        code: 'qemu-failed',
        message: expect.stringMatching(
          /"vm1": its command line is too long for this system \(E2BIG: \d+ arguments, \d+ bytes\)/,
        ),
      });
      expect(m.get('vm1').state).toBe('stopped');
      expect(fs.existsSync(files.runRecord)).toBe(false);
      expect(fs.existsSync(files.runtimeDir)).toBe(false);
    }
    expect(states).toEqual(['starting', 'stopped', 'starting', 'stopped']);
    launcher.script = {};
    expect((await m.start({ vm: 'vm1' })).state).toBe('running');
  });

  it('kills the QEMU it spawned when its run record cannot be written, and rolls back to stopped', async () => {
    const { m, launcher, files } = await setup();
    // The record with pid 0 is written; the one with the real pid hits a directory (as a full
    // disk would fail it): the spawned QEMU must not be left paused and unknown.
    const spawn = launcher.spawn.bind(launcher);
    launcher.spawn = async (...args) => {
      const p = await spawn(...args);
      fs.rmSync(files.runRecord);
      fs.mkdirSync(files.runRecord);
      return p;
    };
    const err = await rejection(m.start({ vm: 'vm1' }));
    expect(err).toMatchObject({
      code: 'qemu-failed',
      message: expect.stringMatching(/QEMU did not become ready for "vm1" .*it was stopped/),
    });
    expect(launcher.last.alive).toBe(false);
    expect(m.get('vm1')).toMatchObject({ state: 'stopped' });
    expect(m.get('vm1').pid).toBeUndefined();
    // Force off has nothing to signal: no stale pid is kept anywhere.
    expect(await rejection(m.stop({ vm: 'vm1' }))).toMatchObject({
      code: 'invalid-state',
      message: '"vm1" is not running.',
    });
  });

  it('shows a QEMU that exits while starting as crashed, with its words in the error and the log tail', async () => {
    const { m, launcher } = await setup();
    launcher.script = {
      exitOnStart: { code: 1, stderr: 'qemu-system-x86_64: -drive file=x: Could not open: Permission denied' },
    };
    const err = await rejection(m.start({ vm: 'vm1' }));
    expect(err).toMatchObject({
      code: 'qemu-failed',
      message: expect.stringMatching(/QEMU exited while starting "vm1": .*Permission denied/),
    });
    expect(m.get('vm1')).toMatchObject({ state: 'crashed', reason: 'QEMU exited with code 1.' });
    expect(m.get('vm1').logTail!.join('\n')).toMatch(/Permission denied/);
  });

  it('stops a QEMU that never opens its control socket and rolls back to stopped', async () => {
    const { m, launcher, files } = await setup({ startTimeoutMs: 200 });
    launcher.script = { noQmp: true };
    const err = await rejection(m.start({ vm: 'vm1' }));
    expect(err).toMatchObject({ code: 'qemu-failed', message: expect.stringMatching(/did not become ready/) });
    expect(launcher.last.signals).toEqual(['SIGTERM']);
    expect(m.get('vm1').state).toBe('stopped');
    expect(fs.existsSync(files.runtimeDir)).toBe(false);
  });

  it('lets force off cancel a start whose cont never answers; queued jobs are cancelled too', async () => {
    const { m, launcher, states } = await setup();
    launcher.script = { unanswered: ['cont'] };
    const start = rejection(m.start({ vm: 'vm1' }));
    await until(() => launcher.procs.length === 1 && launcher.last.commands.includes('cont'));
    const pause = rejection(m.pause({ vm: 'vm1' }));
    const stopped = await m.stop({ vm: 'vm1' });
    expect(stopped.state).toBe('stopped');
    expect(await start).toMatchObject({ code: 'cancelled', message: 'Starting "vm1" was cancelled.' });
    expect(await pause).toMatchObject({ code: 'cancelled' });
    expect(launcher.last.alive).toBe(false);
    expect(states.at(-1)).toBe('stopped');
  });

  it('makes a second operation wait for the first, then run', async () => {
    const { m } = await setup();
    const start = m.start({ vm: 'vm1' });
    const pause = m.pause({ vm: 'vm1' }); // queued behind the start: the VM is running by then
    expect((await start).state).toBe('running');
    expect((await pause).state).toBe('paused');
    expect((await m.resume({ vm: 'vm1' })).state).toBe('running');
  });

  it('refuses an operation that waited too long, naming the one that holds the VM', async () => {
    const { m, launcher } = await setup({ jobWaitMs: 50, startTimeoutMs: 5000 });
    launcher.script = { noQmp: true };
    const start = rejection(m.start({ vm: 'vm1' }));
    const err = await rejection(m.pause({ vm: 'vm1' }));
    expect(err).toMatchObject({
      code: 'timeout',
      message: '"vm1" is busy (start) and did not become free within 0 s. Wait for it, or force the VM off.',
      details: { busy: 'start' },
    });
    await m.stop({ vm: 'vm1' });
    await start;
  });

  it('refuses what the state does not allow, saying what it is', async () => {
    const { m } = await setup();
    expect(await rejection(m.pause({ vm: 'vm1' }))).toMatchObject({
      code: 'invalid-state',
      message: '"vm1" is stopped; it can be paused only when running.',
    });
    expect(await rejection(m.shutdown({ vm: 'vm1' }))).toMatchObject({
      code: 'invalid-state',
      message: '"vm1" is stopped, not running.',
    });
    await m.start({ vm: 'vm1' });
    expect(await rejection(m.start({ vm: 'vm1' }))).toMatchObject({
      code: 'invalid-state',
      message: '"vm1" is running; it can only be started when stopped.',
    });
    await m.pause({ vm: 'vm1' });
    expect(await rejection(m.shutdown({ vm: 'vm1' }))).toMatchObject({
      message: expect.stringMatching(/is paused and cannot react to the power button/),
    });
    expect(await rejection(m.delete({ vm: 'vm1' }))).toMatchObject({ code: 'invalid-state' });
  });

  it('follows the guest: its own pause, its power-off, and a crash', async () => {
    const { m, launcher, states } = await setup();
    await m.start({ vm: 'vm1' });
    launcher.last.guestPowerOff();
    await until(() => m.get('vm1').state === 'stopped');
    expect(states).toEqual(['starting', 'running', 'stopping', 'stopped']);
    expect(m.get('vm1').reason).toBeUndefined();
    await m.start({ vm: 'vm1' });
    launcher.last.crash();
    await until(() => m.get('vm1').state === 'crashed');
    expect(m.get('vm1').reason).toBe('QEMU was killed by SIGSEGV.');
  });

  it('shuts down with the power button and, with wait, returns once stopped', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    const s = await m.shutdown({ vm: 'vm1', wait: true });
    expect(s.state).toBe('stopped');
    expect(launcher.last.commands).toContain('system_powerdown');
  });

  it('forces off a guest that ignores the power button once the timeout passes, and says so', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    launcher.last.script.ignorePowerButton = true;
    const s = await m.shutdown({ vm: 'vm1', wait: true, timeoutMs: 100 });
    expect(s).toMatchObject({
      state: 'stopped',
      reason: 'The guest did not shut down within 0 s, so it was forced off.',
    });
    expect(launcher.last.commands).toContain('quit');
  });

  it('climbs the forcing ladder to SIGKILL when quit is not answered and SIGTERM is ignored', async () => {
    const { m, launcher, files } = await setup();
    await m.start({ vm: 'vm1' });
    Object.assign(launcher.last.script, { unanswered: ['quit'], ignoreSigterm: true });
    expect((await m.stop({ vm: 'vm1' })).state).toBe('stopped');
    expect(launcher.last.signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(fs.readFileSync(files.driverLog, 'utf8')).toMatch(/sending SIGKILL to QEMU pid/);
    expect(fs.existsSync(files.runRecord)).toBe(false);
  });

  it('adopts a running QEMU after the driver went away, and sees its end without being its parent', async () => {
    const { m, paths, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    const m2 = await manager(paths, launcher);
    expect(m2.get('vm1')).toMatchObject({ state: 'running', pid: launcher.last.pid });
    launcher.last.guestPowerOff();
    await until(() => m2.get('vm1').state === 'stopped');
  });

  it('finishes a force off the previous driver died in, and settles a QEMU that crashed meanwhile', async () => {
    const { m, paths, launcher, files } = await setup();
    await m.define({ name: 'vm2', memoryMiB: 64, cpus: 1 });
    await m.start({ vm: 'vm1' });
    await m.start({ vm: 'vm2' });
    const [one, two] = launcher.procs;
    await m.detachAll();
    const rec = JSON.parse(fs.readFileSync(files.runRecord, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(files.runRecord, JSON.stringify({ ...rec, intent: 'stop' }));
    two!.crash();
    const m2 = await manager(paths, launcher);
    await until(() => m2.get('vm1').state === 'stopped');
    expect(one!.alive).toBe(false);
    expect(m2.get('vm2')).toMatchObject({
      state: 'crashed',
      reason: 'QEMU ended abruptly (killed or crashed) without shutting down.',
    });
  });

  it('starts a crashed VM again, and shows a file broken while crashed as broken', async () => {
    const { m, launcher, files } = await setup();
    await m.start({ vm: 'vm1' });
    launcher.last.crash();
    await until(() => m.get('vm1').state === 'crashed');
    expect((await m.start({ vm: 'vm1' })).state).toBe('running');
    launcher.last.crash();
    await until(() => m.get('vm1').state === 'crashed');
    const good = fs.readFileSync(files.definition, 'utf8');
    fs.writeFileSync(files.definition, '[]');
    expect(m.get('vm1').state).toBe('broken');
    fs.writeFileSync(files.definition, good);
    expect(m.get('vm1').state).toBe('stopped');
  });

  it('is stopped when QEMU exits cleanly by itself, running or paused, and crashed when it dies paused', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    launcher.last.exitCleanly();
    await until(() => m.get('vm1').state === 'stopped');
    await m.start({ vm: 'vm1' });
    await m.pause({ vm: 'vm1' });
    launcher.last.exitCleanly();
    await until(() => m.get('vm1').state === 'stopped');
    await m.start({ vm: 'vm1' });
    await m.pause({ vm: 'vm1' });
    launcher.last.crash();
    await until(() => m.get('vm1').state === 'crashed');
  });

  it('forces off a paused VM', async () => {
    const { m, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    await m.pause({ vm: 'vm1' });
    expect((await m.stop({ vm: 'vm1' })).state).toBe('stopped');
    expect(launcher.last.commands.at(-1)).toBe('quit');
  });

  it('stays running when QEMU refuses the power button, and says why', async () => {
    const { m, launcher, states } = await setup();
    await m.start({ vm: 'vm1' });
    launcher.last.script.refused = ['system_powerdown'];
    expect(await rejection(m.shutdown({ vm: 'vm1' }))).toMatchObject({
      message: expect.stringMatching(/system_powerdown refused by the test/),
    });
    expect(m.get('vm1').state).toBe('running');
    expect(states.slice(-2)).toEqual(['stopping', 'running']);
  });

  it('shows an adopted QEMU that lost its control socket as crashed, and forces it off', async () => {
    const { m, paths, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    // Adopted, then its socket goes: it is not our child, so only QMP tells us it is in trouble.
    const m2 = await manager(paths, launcher);
    expect(m2.get('vm1').state).toBe('running');
    launcher.last.closeQmp();
    await until(() => m2.get('vm1').state === 'crashed');
    expect(m2.get('vm1').reason).toMatch(/closed its control socket but is still running/);
    expect(await rejection(m2.start({ vm: 'vm1' }))).toMatchObject({
      message: expect.stringMatching(/still has a QEMU process/),
    });
    expect((await m2.stop({ vm: 'vm1' })).state).toBe('stopped');
    expect(launcher.last.signals).toEqual(['SIGTERM']);
  });

  it('adopts a QEMU whose socket is gone as crashed with the way out, and forces it off', async () => {
    const { m, paths, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    launcher.last.closeQmp();
    const m2 = await manager(paths, launcher);
    expect(m2.get('vm1')).toMatchObject({
      state: 'crashed',
      reason: expect.stringMatching(/does not answer on its control socket\. Force it off with `vmdesk stop vm1`/),
    });
    expect((await m2.stop({ vm: 'vm1' })).state).toBe('stopped');
    expect(launcher.last.alive).toBe(false);
  });

  it('settles an adopted VM whose guest had shut down as stopped, even if QEMU then dies badly', async () => {
    const { m, paths, launcher } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    launcher.last.status = 'shutdown';
    const m2 = await manager(paths, launcher);
    expect(m2.get('vm1').state).toBe('stopping');
    launcher.last.crash();
    await until(() => m2.get('vm1').state === 'stopped');
  });

  it('forces off a crashed, unreachable QEMU even after its file broke, then shows the VM broken', async () => {
    const { m, paths, launcher, files } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    launcher.last.closeQmp();
    const m2 = await manager(paths, launcher);
    fs.writeFileSync(files.definition, '{');
    expect(m2.get('vm1').state).toBe('crashed');
    await m2.stop({ vm: 'vm1' });
    expect(launcher.last.alive).toBe(false);
    expect(m2.get('vm1').state).toBe('broken');
  });

  it('sees an unreachable adopted QEMU end by itself, and never signals its pid once another process has it', async () => {
    const { m, paths, launcher } = await setup();
    await m.define({ name: 'vm2', memoryMiB: 64, cpus: 1 });
    await m.start({ vm: 'vm1' });
    await m.start({ vm: 'vm2' });
    const [one, two] = launcher.procs;
    await m.detachAll();
    one!.closeQmp();
    two!.closeQmp();
    const m2 = await manager(paths, launcher);
    expect(m2.get('vm1').state).toBe('crashed');
    one!.exitCleanly();
    await until(() => m2.get('vm1').state === 'stopped');
    // vm2's QEMU dies and the kernel hands its pid to something else before anyone looks.
    two!.crash();
    launcher.reused.add(two!.pid);
    expect((await m2.stop({ vm: 'vm2' })).state).toBe('stopped');
    expect(launcher.adoptedSignals).toEqual([]);
  });

  it('refuses to start or delete a VM whose QEMU was left alone at takeover (its file was unreadable)', async () => {
    const { m, paths, launcher, files } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    const good = fs.readFileSync(files.definition, 'utf8');
    fs.writeFileSync(files.definition, '{');
    const m2 = await manager(paths, launcher);
    expect(fs.existsSync(files.runtimeDir)).toBe(true);
    fs.writeFileSync(files.definition, good);
    expect(m2.get('vm1').state).toBe('stopped');
    const refusal = {
      code: 'invalid-state',
      message: expect.stringMatching(/still has the QEMU process .* Restart vmdesk/),
    };
    expect(await rejection(m2.start({ vm: 'vm1' }))).toMatchObject(refusal);
    expect(await rejection(m2.delete({ vm: 'vm1' }))).toMatchObject(refusal);
    expect(launcher.procs).toHaveLength(1);
    expect(fs.existsSync(files.dataDir) || fs.existsSync(files.definition)).toBe(true);
    launcher.last.crash();
    expect((await m2.start({ vm: 'vm1' })).state).toBe('running');
  });

  it('does not leave a refused power button as a wanted stop: a crash after it is a crash', async () => {
    const { m, launcher, files } = await setup();
    await m.start({ vm: 'vm1' });
    launcher.last.script.refused = ['system_powerdown'];
    await rejection(m.shutdown({ vm: 'vm1' }));
    expect(JSON.parse(fs.readFileSync(files.runRecord, 'utf8'))).not.toHaveProperty('intent');
    launcher.last.crash();
    await until(() => m.get('vm1').state === 'crashed');
  });

  it('rolls a start back cleanly when the file breaks while the host is probed', async () => {
    const { m, host, files } = await setup();
    host.whileProbing = () => fs.writeFileSync(files.definition, 'nope');
    expect(await rejection(m.start({ vm: 'vm1' }))).toMatchObject({ code: 'vm-broken' });
    expect(m.get('vm1').state).toBe('broken');
    expect(fs.existsSync(files.runtimeDir)).toBe(false);
  });

  it('lets force off cancel a start that is still probing the host', async () => {
    const { m, host, launcher } = await setup();
    let probing!: () => void;
    const probed = new Promise<void>((r) => (probing = r));
    host.whileProbing = () => {
      probing();
      return new Promise((r) => setTimeout(r, 100));
    };
    const start = rejection(m.start({ vm: 'vm1' }));
    await probed;
    expect((await m.stop({ vm: 'vm1' })).state).toBe('stopped');
    expect(await start).toMatchObject({ code: 'cancelled' });
    expect(launcher.procs).toHaveLength(0);
  });

  it('leaves the end of a QEMU to the driver that took it over, after detaching', async () => {
    const { m, paths, launcher, files } = await setup();
    await m.start({ vm: 'vm1' });
    await m.detachAll();
    const m2 = await manager(paths, launcher);
    launcher.last.crash(); // our detached driver is still its parent and sees the exit too
    await until(() => m2.get('vm1').state === 'crashed');
    expect(m2.get('vm1').reason).toBe('QEMU ended abruptly (killed or crashed) without shutting down.');
    expect(fs.existsSync(files.runRecord)).toBe(false);
  });

  it('deletes a VM whose file was removed outside vmdesk, with its disks', async () => {
    const { m, files } = await setup();
    fs.mkdirSync(files.dataDir, { recursive: true });
    fs.rmSync(files.definition);
    expect(m.get('vm1').state).toBe('broken');
    const r = await m.delete({ vm: 'vm1', keepDisks: false });
    expect(r.removed).toEqual([files.dataDir, files.logDir]); // the definition was already gone
    expect(m.list()).toEqual([]);
    expect(fs.existsSync(files.dataDir)).toBe(false);
  });

  // Found by review: a start in flight did not claim its host ports, so two VMs whose (older)
  // files share one started together, and the second failed in QEMU's words.
  it('starts only one of two VMs that forward the same host port when both start at once', async () => {
    const { m, files } = await setup();
    const port = 40000 + (process.pid % 20000);
    await m.define({
      name: 'vm2',
      memoryMiB: 64,
      cpus: 1,
      forwards: [{ proto: 'tcp', hostPort: port, guestPort: 22 }],
    });
    // An older vmdesk let two VMs forward one port: vm1's file is edited the way it would have saved it.
    const def = JSON.parse(fs.readFileSync(files.definition, 'utf8')) as VmDefinition;
    def.network.forwards = [{ proto: 'tcp', hostAddr: '0.0.0.0', hostPort: port, guestPort: 80 }];
    fs.writeFileSync(files.definition, JSON.stringify(def));
    const results = await Promise.allSettled([m.start({ vm: 'vm1' }), m.start({ vm: 'vm2' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({
      code: 'invalid-state',
      message: expect.stringMatching(/is forwarded by the running VM "vm[12]"/),
    });
    expect(
      m
        .list()
        .map((v) => v.state)
        .sort(),
    ).toEqual(['running', 'stopped']);
  });

  it('creates exactly one VM when five defines of one name arrive at once', async () => {
    const { m } = await setup();
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5].map(() => m.define({ name: 'twin', memoryMiB: 64, cpus: 1 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'name-taken' });
    expect(m.get('twin').name).toBe('twin');
  });

  it('re-reads a definition edited on disk before writing it, and keeps the edit', async () => {
    const { m, paths } = await setup();
    const iso = path.join(paths.data, 'x.iso');
    fs.mkdirSync(paths.data, { recursive: true });
    fs.writeFileSync(iso, 'iso');
    const vm = await m.define({ name: 'cd', memoryMiB: 64, cpus: 1, cdrom: iso });
    const def = JSON.parse(fs.readFileSync(vm.file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(vm.file, JSON.stringify({ ...def, memoryMiB: 96 }, null, 2));
    const after = await m.eject({ vm: 'cd' });
    expect(after.definition).toMatchObject({ memoryMiB: 96, cdroms: [null] });
    expect(JSON.parse(fs.readFileSync(vm.file, 'utf8'))).toMatchObject({ memoryMiB: 96, cdroms: [null] });
  });

  it('never overwrites a definition that became unreadable: the VM is broken until the file is repaired', async () => {
    const { m, paths } = await setup();
    const iso = path.join(paths.data, 'x.iso');
    fs.mkdirSync(paths.data, { recursive: true });
    fs.writeFileSync(iso, 'iso');
    const vm = await m.define({ name: 'cd', memoryMiB: 64, cpus: 1, cdrom: iso });
    const good = fs.readFileSync(vm.file, 'utf8');
    fs.writeFileSync(vm.file, '{ not json');
    expect(await rejection(m.eject({ vm: vm.id }))).toMatchObject({
      code: 'vm-broken',
      message: expect.stringMatching(/not valid JSON/),
    });
    expect(fs.readFileSync(vm.file, 'utf8')).toBe('{ not json');
    expect(m.list().find((s) => s.id === vm.id)).toMatchObject({ state: 'broken' });
    fs.writeFileSync(vm.file, good);
    expect(m.list().find((s) => s.id === vm.id)).toMatchObject({ state: 'stopped', name: 'cd' });
  });

  it('keeps a running VM whose file broke under its name, refuses to write the file, and shows it broken once off', async () => {
    const { m, files } = await setup();
    await m.start({ vm: 'vm1' });
    fs.writeFileSync(files.definition, 'garbage');
    expect(m.get('vm1')).toMatchObject({ name: 'vm1', state: 'running' });
    expect(await rejection(m.eject({ vm: 'vm1' }))).toMatchObject({ code: 'vm-broken' });
    await m.stop({ vm: 'vm1' });
    expect(m.get('vm1')).toMatchObject({ state: 'broken', reason: expect.stringMatching(/not valid JSON/) });
    expect(fs.readFileSync(files.definition, 'utf8')).toBe('garbage');
  });

  it('rolls back a define and finishes a delete that a killed driver left half done; shows unexplained dirs', async () => {
    const { m, paths, launcher } = await setup();
    const keep = m.get('vm1');
    await m.detachAll();
    // A define killed after it made its disk, before its definition: rolled back.
    const halfMade = '0f0e0d0c-0b0a-4908-8706-050403020100';
    writeIntent(paths, { op: 'define', id: halfMade, at: new Date().toISOString() });
    fs.mkdirSync(vmFiles(paths, halfMade).dataDir, { recursive: true });
    fs.writeFileSync(path.join(vmFiles(paths, halfMade).dataDir, 'disk0.qcow2'), 'x');
    // A delete killed after it removed the disks, before the definition: finished.
    writeIntent(paths, { op: 'delete', id: keep.id, at: new Date().toISOString(), keepDisks: false, nvram: null });
    // A directory no intent explains (a user's copy?): listed, never deleted.
    const stray = path.join(paths.data, 'vms', '11111111-2222-4333-8444-555555555555');
    fs.mkdirSync(stray, { recursive: true });
    const m2 = await manager(paths, launcher);
    expect(m2.list()).toEqual([]);
    expect(fs.existsSync(vmFiles(paths, halfMade).dataDir)).toBe(false);
    expect(fs.existsSync(vmFiles(paths, keep.id).definition)).toBe(false);
    expect(fs.existsSync(vmFiles(paths, keep.id).logDir)).toBe(false);
    expect(fs.existsSync(intentFile(paths, halfMade))).toBe(false);
    expect(m2.orphans()).toEqual([{ id: '11111111-2222-4333-8444-555555555555', kind: 'data', path: stray }]);
    expect(fs.existsSync(stray)).toBe(true);
    expect(fs.readFileSync(driverFiles(paths).driverLog, 'utf8')).toMatch(
      /define of 0f0e0d0c-.* was interrupted: its files were removed/,
    );
  });

  it('rolls back a define and finishes a delete in a VM folder of Preferences (the intent names the folder)', async () => {
    const { m, paths, launcher } = await setup();
    await m.detachAll();
    const folder = path.join(paths.data, '..', 'elsewhere');
    const halfMade = '0f0e0d0c-0b0a-4908-8706-050403020101';
    const halfDir = path.join(folder, 'half-0f0e0d0c');
    writeIntent(paths, { op: 'define', id: halfMade, at: new Date().toISOString(), dataDir: halfDir });
    fs.mkdirSync(halfDir, { recursive: true });
    fs.writeFileSync(path.join(halfDir, 'disk0.qcow2'), 'x');
    const goneId = '0f0e0d0c-0b0a-4908-8706-050403020102';
    const goneDir = path.join(folder, 'gone-0f0e0d0c');
    fs.mkdirSync(goneDir, { recursive: true });
    fs.writeFileSync(path.join(goneDir, 'disk0.qcow2'), 'x');
    writeIntent(paths, {
      op: 'delete',
      id: goneId,
      at: new Date().toISOString(),
      dataDir: goneDir,
      keepDisks: false,
      nvram: null,
    });
    const beside = path.join(folder, 'someone-elses');
    fs.mkdirSync(beside, { recursive: true });
    await manager(paths, launcher);
    expect(fs.existsSync(halfDir)).toBe(false);
    expect(fs.existsSync(goneDir)).toBe(false);
    expect(fs.existsSync(beside)).toBe(true);
    expect(fs.existsSync(intentFile(paths, halfMade))).toBe(false);
    expect(fs.existsSync(intentFile(paths, goneId))).toBe(false);
  });

  it('deletes a VM with its definition last and no intent left', async () => {
    const { m, paths, files } = await setup();
    const id = m.get('vm1').id;
    const removed: string[] = [];
    m.events.on('vm.removed', (e) => removed.push(e.id));
    await m.delete({ vm: 'vm1' });
    expect(removed).toEqual([id]);
    for (const p of [files.definition, files.logDir, files.dataDir, intentFile(paths, id)])
      expect(fs.existsSync(p)).toBe(false);
    expect(await rejection(m.start({ vm: id }))).toMatchObject({ code: 'not-found' });
  });
});

/** This machine's QEMU has seccomp, so a QEMU without it can only be a capability record that
 * says so (FakeHost's, `sandbox: false`); this one says the opposite. */
class SandboxedHost extends FakeHost {
  override async qemuCaps(): Promise<QemuCaps> {
    return fakeQemuCaps({ ...(await super.qemuCaps()), sandbox: true });
  }
}

describe('the seccomp sandbox', () => {
  it('starts QEMU sandboxed when it has seccomp, and the summary says so', async () => {
    const paths = sandbox();
    const launcher = new FakeQemuLauncher();
    const m = await manager(paths, launcher, {}, new SandboxedHost());
    await m.define({ name: 'vm1', memoryMiB: 64, cpus: 1 });
    const s = await m.start({ vm: 'vm1' });
    expect(launcher.last.argv).toContain('-sandbox');
    expect(s.sandbox).toEqual({ on: true });
    expect(fs.readFileSync(s.paths!.driverLog, 'utf8')).not.toMatch(/without seccomp/);
  });

  it('says in the driver log and the summary that QEMU runs unsandboxed, and why, while it runs', async () => {
    const { m, launcher, files } = await setup(); // FakeHost: a QEMU built without seccomp
    const s = await m.start({ vm: 'vm1' });
    expect(launcher.last.argv).not.toContain('-sandbox');
    const reason =
      "QEMU /nonexistent/qemu-system-x86_64 7.2.22 was built without seccomp: the guest's QEMU runs without -sandbox. " +
      'Install a QEMU built with seccomp to confine it.';
    expect(s.sandbox).toEqual({ on: false, reason });
    expect(m.list()[0]!.sandbox).toEqual({ on: false, reason });
    expect(fs.readFileSync(files.driverLog, 'utf8')).toContain(`QEMU runs without its seccomp sandbox: ${reason}`);
    await m.stop({ vm: 'vm1' });
    expect(m.get('vm1').sandbox).toBeUndefined();
  });
});

describe('deleting a VM', () => {
  /** A VM's own files as vmdesk makes them: a disk and firmware variables in its data dir, logs. */
  function ownFiles(files: ReturnType<typeof vmFiles>): { disk: string; nvram: string } {
    fs.mkdirSync(files.dataDir, { recursive: true });
    const disk = path.join(files.dataDir, 'disk0.qcow2');
    const nvram = path.join(files.dataDir, 'efivars.fd');
    fs.writeFileSync(disk, 'disk');
    fs.writeFileSync(nvram, 'vars');
    expect(fs.existsSync(files.logDir)).toBe(true); // the driver log of the define
    return { disk, nvram };
  }

  const brokenFiles: [string, string | Buffer, RegExp][] = [
    ['a 1.2 MB file the loader calls too large', Buffer.alloc(1_200_000, 0x20), /too large to be a VM definition/],
    ['invalid JSON', '{ "version": 1, "name": ', /not valid JSON/],
    ['a newer format version', '{"version": 9, "id": "x"}', /newer vmdesk \(format version 9/],
  ];

  it.each(brokenFiles)('deletes a VM whose definition is %s, and lists what it removed', async (_what, text, why) => {
    const { m, paths, files } = await setup();
    const other = await m.define({ name: 'bystander', memoryMiB: 64, cpus: 1 });
    const { disk, nvram } = ownFiles(files);
    fs.writeFileSync(files.definition, text);
    expect(m.get('vm1')).toMatchObject({ state: 'broken', reason: expect.stringMatching(why) });
    const id = m.list().find((v) => v.state === 'broken')!.id;
    const r = await m.delete({ vm: id, keepDisks: false });
    expect(r.id).toBe(id);
    expect(new Set(r.removed)).toEqual(new Set([disk, nvram, files.dataDir, files.logDir, files.definition]));
    expect(r.removed.at(-1)).toBe(files.definition); // definition last
    expect(r.kept).toEqual([]);
    for (const p of r.removed) expect(fs.existsSync(p)).toBe(false);
    expect(fs.readdirSync(path.join(paths.config, 'intents'))).toEqual([]);
    expect(m.list().map((v) => v.name)).toEqual(['bystander']);
    expect(fs.existsSync(other.file)).toBe(true);
    expect(fs.existsSync(vmFiles(paths, other.id).logDir)).toBe(true);
  });

  // A review found the CLI's default (no flag) deleted a broken VM's whole data folder, while the
  // window kept it: its disks cannot be listed, so by default they stay, and the reply says why.
  it('keeps the data dir of a broken VM deleted without saying, with a note why', async () => {
    const { m, files } = await setup();
    const { disk, nvram } = ownFiles(files);
    fs.writeFileSync(files.definition, 'garbage');
    const r = await m.delete({ vm: m.list()[0]!.id });
    expect(r.removed).toEqual([files.logDir, files.definition]);
    expect(r.kept).toEqual([files.dataDir]);
    expect(r.note).toMatch(/cannot tell which of the files in .* are its disks: the folder is kept/);
    for (const p of [disk, nvram]) expect(fs.existsSync(p)).toBe(true);
  });

  // Found by review: with kept disks, a delete removed whatever path the definition's nvram named.
  it('never removes an nvram file outside the VM’s own data folder, whatever the definition says', async () => {
    const { m, files, paths } = await setup();
    fs.mkdirSync(path.join(paths.data, '..'), { recursive: true });
    const victim = path.join(paths.data, '..', 'precious.fd');
    fs.writeFileSync(victim, 'keep me');
    const def = JSON.parse(fs.readFileSync(files.definition, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(files.definition, JSON.stringify({ ...def, nvram: victim }));
    expect(m.get('vm1').definition?.nvram).toBe(victim);
    const r = await m.delete({ vm: 'vm1', keepDisks: true });
    expect(r.removed).not.toContain(victim);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
  });

  it('keeps the data dir of a broken VM deleted with keepDisks, and says so', async () => {
    const { m, files } = await setup();
    const { disk, nvram } = ownFiles(files);
    fs.writeFileSync(files.definition, 'garbage');
    const r = await m.delete({ vm: m.list()[0]!.id, keepDisks: true });
    expect(r.removed).toEqual([files.logDir, files.definition]);
    expect(r.kept).toEqual([files.dataDir]);
    for (const p of [disk, nvram]) expect(fs.existsSync(p)).toBe(true);
    expect(fs.existsSync(files.definition)).toBe(false);
  });

  it('deletes only the file of a broken definition whose name is not a VM id (vmdesk made no dirs for it)', async () => {
    const { m: first, paths, launcher } = await setup();
    await first.detachAll();
    const file = path.join(paths.config, 'vms', 'notes.json');
    fs.writeFileSync(file, 'not a VM');
    const lookalike = path.join(paths.data, 'vms', 'notes');
    fs.mkdirSync(lookalike, { recursive: true });
    fs.writeFileSync(path.join(lookalike, 'mine.txt'), 'x');
    const m = await manager(paths, launcher);
    expect(m.get('notes').state).toBe('broken');
    const r = await m.delete({ vm: 'notes' });
    expect(r).toEqual({ id: 'notes', removed: [file], kept: [] });
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(path.join(lookalike, 'mine.txt'))).toBe(true);
  });

  it('still refuses to delete a running VM whose file broke, and leaves the file as it is', async () => {
    const { m, files } = await setup();
    await m.start({ vm: 'vm1' });
    fs.writeFileSync(files.definition, '{ not json');
    expect(await rejection(m.delete({ vm: 'vm1' }))).toMatchObject({
      code: 'invalid-state',
      message: expect.stringMatching(/Shut it down or force it off before deleting it/),
    });
    expect(fs.readFileSync(files.definition, 'utf8')).toBe('{ not json');
    expect(fs.existsSync(files.logDir)).toBe(true);
  });

  it('lists the disks it removed, and keeps the disks that were never vmdesk’s or that the user kept', async () => {
    const { m, paths } = await setup();
    const external = path.join(paths.data, 'mine.img');
    fs.mkdirSync(paths.data, { recursive: true });
    fs.writeFileSync(external, Buffer.alloc(1024 * 1024));
    const vm = await m.define({ name: 'ext', memoryMiB: 64, cpus: 1, disk: { path: external, format: 'raw' } });
    const files = vmFiles(paths, vm.id);
    const { disk, nvram } = ownFiles(files);
    const r = await m.delete({ vm: 'ext' });
    expect(r.removed).toEqual([disk, nvram, files.dataDir, files.logDir, files.definition]);
    expect(r.kept).toEqual([external]);
    expect(fs.existsSync(external)).toBe(true);

    const kept = await m.define({ name: 'kept', memoryMiB: 64, cpus: 1 });
    const kf = vmFiles(paths, kept.id);
    const own = ownFiles(kf);
    // As vmdesk records them: the disk it made (owned) and the firmware variables.
    const def = JSON.parse(fs.readFileSync(kept.file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(
      kept.file,
      JSON.stringify({
        ...def,
        disks: [{ target: 'vda', path: own.disk, format: 'qcow2', owned: true }],
        nvram: own.nvram,
      }),
    );
    const r2 = await m.delete({ vm: 'kept', keepDisks: true });
    expect(r2.removed).toEqual([own.nvram, kf.logDir, kf.definition]);
    expect(r2.kept).toEqual([own.disk]);
    expect(fs.existsSync(own.disk)).toBe(true);
  });

  it('finishes the delete of a broken VM that a killed driver left half done', async () => {
    const { m, paths, launcher, files } = await setup();
    ownFiles(files);
    const id = m.get('vm1').id;
    await m.detachAll();
    fs.writeFileSync(files.definition, 'garbage');
    // What remove() writes for a broken VM before it deletes anything: no nvram known.
    writeIntent(paths, { op: 'delete', id, at: new Date().toISOString(), keepDisks: false, nvram: null });
    const m2 = await manager(paths, launcher);
    expect(m2.list()).toEqual([]);
    for (const p of [files.definition, files.dataDir, files.logDir, intentFile(paths, id)])
      expect(fs.existsSync(p)).toBe(false);
  });
});

describe('DriverLog', () => {
  it('keeps a log under its cap, the previous part in .1', () => {
    const paths = sandbox();
    const file = path.join(paths.state, 'x', 'driver.log');
    const log = new DriverLog(file, 4096);
    for (let i = 0; i < 500; i++) log.write(`line ${i} ${'x'.repeat(40)}`);
    expect(fs.statSync(file).size).toBeLessThanOrEqual(4096);
    expect(fs.statSync(`${file}.1`).size).toBeLessThanOrEqual(4096);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/line 499 /);
  });
});
