/**
 * The session-mode driver end to end: the real `vmdesk` CLI, real QEMU (TCG), the tiny guest.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, pidAlive, qemuPidsUnder, Sandbox, VMDESK, waitFor } from './support/cli.js';

const READY = 'VMDESK-GUEST-READY';
let sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes) s.cleanup();
  sandboxes = [];
});
function sandbox(env?: NodeJS.ProcessEnv): Sandbox {
  const s = new Sandbox(env);
  sandboxes.push(s);
  return s;
}

async function defineTiny(s: Sandbox, name: string): Promise<VmSummary> {
  return s.json<VmSummary>(['define', '--name', name, '--memory', '256M', '--cdrom', guestIso()]);
}

/** Nothing of a stopped VM may remain in the runtime dir or the run records. */
function expectNoLeftovers(s: Sandbox): void {
  const runtime = path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk');
  const left = fs.existsSync(runtime) ? fs.readdirSync(runtime).filter((n) => n !== 'control.sock') : [];
  expect(left).toEqual([]);
  const runDir = path.join(s.env.XDG_STATE_HOME!, 'vmdesk', 'run');
  expect(fs.existsSync(runDir) ? fs.readdirSync(runDir) : []).toEqual([]);
}

describe('vmdesk with a real guest', () => {
  it('defines, starts, talks over the serial console, and shuts down with the ACPI button', async () => {
    const s = sandbox();
    const vm = await defineTiny(s, 'tiny');
    expect(vm.state).toBe('stopped');

    const started = await s.run(['start', 'tiny']);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain('tiny: running with tcg');

    const info = await s.json<VmSummary>(['info', 'tiny']);
    expect(info.state).toBe('running');
    expect(info.accel?.accel).toBe('tcg');
    expect(info.pid).toBeGreaterThan(0);
    expect(pidAlive(info.pid!)).toBe(true);
    for (const sock of [info.paths!.qmp, info.paths!.serial, info.paths!.vnc])
      expect(fs.statSync(sock).isSocket()).toBe(true);
    // This host's QEMU has seccomp (`-sandbox help` parses), so the guest's QEMU runs confined.
    expect(info.sandbox).toEqual({ on: true });
    expect(fs.readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0')).toContain('-sandbox');
    expect((await s.run(['info', 'tiny'])).stdout).toMatch(/^Sandbox: +on \(seccomp\)$/m);

    await s.waitForFileText(info.paths!.serialLog, READY);

    // The console replays recent output, takes keystrokes, and Ctrl+] detaches.
    const consoleRun = await s.console('tiny', 'echo hello-$((6*7))\n', 'hello-42');
    expect(consoleRun.code).toBe(0);
    expect(consoleRun.out).toContain(READY); // replayed history
    expect(consoleRun.out).toContain('hello-42');
    expect(consoleRun.err).toContain('Press Ctrl+] to detach');
    expect(consoleRun.err).toContain('Detached. The VM keeps running.');
    expect((await s.json<VmSummary>(['info', 'tiny'])).state).toBe('running');

    const log = await s.run(['log', 'tiny', '--serial', '--lines', '200']);
    expect(log.stdout).toContain('hello-42');

    // Reboot is a hard reset: same QEMU process, the guest boots again and prints its marker anew.
    const perBoot = fs.readFileSync(info.paths!.serialLog, 'utf8').split(READY).length - 1;
    const rebooted = await s.run(['reboot', 'tiny']);
    expect(rebooted.stdout).toContain('tiny: running');
    await waitFor(
      () => fs.readFileSync(info.paths!.serialLog, 'utf8').split(READY).length - 1 >= 2 * perBoot,
      'the marker after reboot',
    );
    expect((await s.json<VmSummary>(['info', 'tiny'])).pid).toBe(info.pid);

    const down = await s.run(['shutdown', 'tiny', '--wait', '--timeout', '90']);
    expect(down.stderr).toBe('');
    expect(down.stdout).toContain('tiny: stopped');
    expect(pidAlive(info.pid!)).toBe(false);
    expect(fs.readFileSync(info.paths!.serialLog, 'utf8')).toContain('VMDESK-GUEST-POWEROFF');
    expectNoLeftovers(s);
    // When it stopped is kept (the list's "last used" order), and read back by a new process.
    expect(info.lastRunAt).toBeUndefined();
    const after = await s.json<VmSummary>(['info', 'tiny']);
    expect(Date.parse(after.lastRunAt ?? '')).toBeGreaterThan(Date.parse(info.startedAt!));
  });

  it('adopts both running VMs after the owning driver is killed with SIGKILL, and controls them', async () => {
    const s = sandbox();
    await defineTiny(s, 'one');
    await defineTiny(s, 'two');
    const driver = await s.startDriver();
    expect((await s.run(['start', 'one'])).code).toBe(0);
    expect((await s.run(['start', 'two'])).code).toBe(0);
    const before = await s.json<VmSummary[]>(['list']);
    expect(before.map((v) => v.state)).toEqual(['running', 'running']);

    // The console through the running driver's control socket: history first, then live bytes.
    await s.waitForFileText(before[0]!.paths!.serialLog, READY);
    const viaDriver = await s.console('one', 'echo via-$((40+2))-driver\n', 'via-42-driver');
    expect(viaDriver.code).toBe(0);
    expect(viaDriver.out).toContain(READY);

    driver.kill('SIGKILL');
    await new Promise((r) => driver.once('exit', r));

    // A new process (this CLI call) becomes the owner and adopts both QEMUs.
    const after = await s.json<VmSummary[]>(['list']);
    expect(after.map((v) => [v.name, v.state, v.pid])).toEqual(before.map((v) => [v.name, 'running', v.pid]));
    // Read back from each adopted QEMU's own command line.
    expect(after.map((v) => v.sandbox)).toEqual([{ on: true }, { on: true }]);
    await s.waitForFileText(after[0]!.paths!.serialLog, READY);

    expect((await s.run(['pause', 'one'])).stdout).toContain('one: paused');
    expect((await s.json<VmSummary>(['info', 'one'])).state).toBe('paused');
    expect((await s.run(['resume', 'one'])).stdout).toContain('one: running');
    const stopped = await s.run(['stop', 'one']);
    expect(stopped.stdout).toContain('one: stopped');
    const down = await s.run(['shutdown', 'two', '--wait', '--timeout', '90']);
    expect(down.stdout).toContain('two: stopped');
    for (const v of before) expect(pidAlive(v.pid!)).toBe(false);
    expectNoLeftovers(s);
  });

  it('keeps reaching a running QEMU whose definition file became unreadable while no driver ran', async () => {
    const s = sandbox();
    const vm = await defineTiny(s, 'kept');
    expect((await s.run(['start', 'kept'])).code).toBe(0); // this CLI call owned it; QEMU outlives it
    const running = await s.json<VmSummary>(['info', 'kept']);
    const good = fs.readFileSync(vm.file, 'utf8');
    fs.writeFileSync(vm.file, '{ "version": 1, "name": '); // cut short, as by a full disk

    // The next owner cannot read the VM: it shows it as broken and leaves its QEMU and sockets be.
    const broken = (await s.json<VmSummary[]>(['list'])).find((v) => v.id === vm.id)!;
    expect(broken.state).toBe('broken');
    expect(pidAlive(running.pid!)).toBe(true);
    expect(fs.existsSync(running.paths!.qmp)).toBe(true);

    // Once the file is good again, the next owner adopts the same QEMU.
    fs.writeFileSync(vm.file, good);
    const back = await s.json<VmSummary>(['info', 'kept']);
    expect([back.state, back.pid]).toEqual(['running', running.pid]);
    expect((await s.run(['stop', 'kept'])).code).toBe(0);
    expect(pidAlive(running.pid!)).toBe(false);
    expectNoLeftovers(s);
  });

  it('shows a VM whose QEMU was killed as crashed with the last lines of qemu.log', async () => {
    const s = sandbox();
    await defineTiny(s, 'victim');
    const driver = await s.startDriver();
    const vm = await s.json<VmSummary>(['start', 'victim']);
    process.kill(vm.pid!, 'SIGKILL');
    await waitFor(async () => (await s.json<VmSummary>(['info', 'victim'])).state === 'crashed', 'crashed state');
    const crashed = await s.json<VmSummary>(['info', 'victim']);
    expect(crashed.reason).toMatch(/SIGKILL/);
    expect(Array.isArray(crashed.logTail)).toBe(true);
    const text = await s.run(['info', 'victim']);
    expect(text.stdout).toContain('crashed');
    expect(text.stdout).toContain('Last QEMU output');
    driver.kill('SIGKILL');
    expectNoLeftovers(s);

    // And while no driver runs: the next process finds the pidfile QEMU left behind.
    const again = await s.json<VmSummary>(['start', 'victim']);
    process.kill(again.pid!, 'SIGKILL');
    await waitFor(() => !pidAlive(again.pid!), 'QEMU to die');
    const found = await s.json<VmSummary>(['info', 'victim']);
    expect(found.state).toBe('crashed');
    expect(found.reason).toMatch(/abruptly/);
    expectNoLeftovers(s);
    // A crashed VM can be started again.
    expect((await s.run(['start', 'victim'])).code).toBe(0);
    expect((await s.run(['stop', 'victim'])).code).toBe(0);
  });

  it('never runs one VM twice when two processes use different XDG_RUNTIME_DIRs over one config', async () => {
    const s = sandbox();
    await defineTiny(s, 'solo');
    const otherRuntime = path.join(s.root, 'r2');
    fs.mkdirSync(otherRuntime, { mode: 0o700 });
    const driver = await s.startDriver();
    expect((await s.run(['start', 'solo'])).code).toBe(0);

    // The second process finds the owner through the lock in the config dir, not the runtime dir.
    const second = await s.run(['start', 'solo'], { env: { XDG_RUNTIME_DIR: otherRuntime } });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/"solo" is running; it can only be started when stopped/);
    const listed = await s.json<VmSummary[]>(['list'], { XDG_RUNTIME_DIR: otherRuntime });
    expect(listed[0]!.state).toBe('running');
    expect(qemuPidsUnder(s.root)).toHaveLength(1);

    // If that owner hangs (alive, holding the lock, not answering), the second process refuses
    // after a short wait instead of taking over or hanging.
    process.kill(driver.pid!, 'SIGSTOP');
    try {
      const refused = await s.run(['start', 'solo'], { env: { XDG_RUNTIME_DIR: otherRuntime } });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/managed by vmdesk process \d+ \(driver\).*does not answer/);
      expect(qemuPidsUnder(s.root)).toHaveLength(1);
    } finally {
      process.kill(driver.pid!, 'SIGCONT');
    }
  });

  it('starts a UEFI VM with its own copy of the firmware variables, and forwards a port', async () => {
    const s = sandbox();
    const vm = await s
      .json<VmSummary>([
        'define',
        '--name',
        'efi',
        '--memory',
        '256M',
        '--firmware',
        'uefi',
        '--disk-size',
        '64M',
        '--forward',
        'tcp:127.0.0.1:0:22',
      ])
      .catch(() => undefined);
    // Port 0 is not a valid forward: refused before anything is made.
    expect(vm).toBeUndefined();
    const def = await s.json<VmSummary>([
      'define',
      '--name',
      'efi',
      '--memory',
      '256M',
      '--firmware',
      'uefi',
      '--disk-size',
      '64M',
      '--forward',
      'tcp:127.0.0.1:42022:22',
    ]);
    const nvram = def.definition!.nvram!;
    expect(fs.statSync(nvram).size).toBeGreaterThan(0);
    expect(fs.statSync(nvram).mode & 0o777).toBe(0o600);
    expect(def.definition!.disks[0]!.format).toBe('qcow2');
    const started = await s.json<VmSummary>(['start', 'efi']);
    expect(started.state).toBe('running');
    const cmdline = fs.readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.some((a) => a.includes(nvram))).toBe(true);
    expect(cmdline.some((a) => a.includes('hostfwd=tcp:127.0.0.1:42022-:22'))).toBe(true);
    expect((await s.run(['stop', 'efi'])).code).toBe(0);
    const deleted = await s.run(['delete', 'efi']);
    expect(deleted.code).toBe(0);
    const removed = deleted.stdout.split('\n').map((l) => l.trim());
    for (const p of [
      nvram,
      def.definition!.disks[0]!.path,
      def.file,
      def.paths!.driverLog.replace(/\/driver\.log$/, ''),
    ])
      expect(removed).toContain(p);
    expect(fs.existsSync(nvram)).toBe(false);
    expect(fs.existsSync(def.definition!.disks[0]!.path)).toBe(false);
  });

  it('with --accel auto picks the best accelerator the host report allows, and says which in info', async () => {
    // No VMDESK_ACCEL here: the choice is the driver's. On this host KVM is usable (but hangs real
    // guests), so the VM is only started and forced off, never booted far.
    const s = sandbox({ VMDESK_ACCEL: '' });
    const host = await s.json<{ accels: { x86_64: { accel: string; available: boolean }[] } }>(['host']);
    const best = ['kvm', 'hvf', 'tcg'].find((a) => host.accels.x86_64.some((x) => x.accel === a && x.available));
    const defined = await s.json<VmSummary>(['define', '--name', 'auto', '--memory', '128M', '--accel', 'auto']);
    const started = await s.run(['start', 'auto', '--json']);
    // The driver log records the choice before QEMU runs, whatever QEMU then makes of it.
    const driverLog = fs.readFileSync(defined.paths!.driverLog, 'utf8');
    expect(driverLog).toMatch(
      new RegExp(
        `spawned QEMU pid \\d+ \\(${best}: auto ${best === 'tcg' ? 'fell back to TCG' : `picked ${best!.toUpperCase()}`}`,
      ),
    );
    if (started.code === 0) {
      const vm = JSON.parse(started.stdout) as VmSummary;
      expect(vm.accel?.accel).toBe(best);
      expect((await s.run(['info', 'auto'])).stdout).toMatch(new RegExp(`Accelerator: +${best} \\(auto`));
      expect((await s.run(['stop', 'auto'])).code).toBe(0);
    } else {
      // This CI host's KVM aborts QEMU (an MSR it cannot set): the user is told how to go on.
      expect(started.code).toBe(1);
      expect(started.stderr).toMatch(new RegExp(`It ran with ${best!.toUpperCase()}; .*try TCG: set VMDESK_ACCEL=tcg`));
      expect(qemuPidsUnder(s.root)).toEqual([]);
    }
  });

  it('follows a log without holding the VMs: a driver started meanwhile owns them, and appended lines still show', async () => {
    const s = sandbox();
    const vm = await defineTiny(s, 'logged');
    // No driver runs: `log --follow` becomes one for a moment, then lets go and tails the file.
    const follower = spawn(process.execPath, [VMDESK, 'log', 'logged', '--driver', '--follow'], {
      env: s.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    s.track(follower);
    let printed = '';
    follower.stdout!.on('data', (d: Buffer) => (printed += d.toString()));
    await waitFor(() => printed.includes('defined:'), 'the log so far');
    const driver = await s.startDriver(); // refused if the follower still owned the VMs
    fs.appendFileSync(vm.paths!.driverLog, 'a line written after the follower started\n');
    await waitFor(() => printed.includes('a line written after the follower started'), 'the appended line');
    follower.kill('SIGINT');
    driver.kill('SIGTERM');
    // Every call a driver took is in the driver-wide log, arguments and all (cut at 500 characters).
    const driverWide = fs.readFileSync(path.join(s.env.XDG_STATE_HOME!, 'vmdesk', 'logs', 'driver.log'), 'utf8');
    expect(driverWide).toMatch(/call vm\.define \{"name":"logged","memoryMiB":256,/);
    expect(driverWide).toMatch(/call vm\.logPaths \{"vm":"logged"\}/);
  });
});
