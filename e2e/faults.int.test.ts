/**
 * Faults, produced for real: a hung QEMU (SIGSTOP), two drivers started in the same instant, a
 * full disk under the config and data dirs (a tiny tmpfs), a guest flooding its serial port.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { guestIso, pidAlive, qemuPidsUnder, Sandbox, VMDESK, waitFor } from './support/cli.js';

const isRoot = process.getuid?.() === 0;
let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});
function sandbox(env?: NodeJS.ProcessEnv): Sandbox {
  const s = new Sandbox(env);
  cleanups.push(() => s.cleanup());
  return s;
}

describe('faults', () => {
  it('forces off a QEMU that stopped answering QMP (SIGSTOP): the ladder ends in SIGKILL', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'hung', '--memory', '128M', '--cdrom', guestIso()]);
    const vm = await s.json<VmSummary>(['start', 'hung']);
    process.kill(vm.pid!, 'SIGSTOP');
    cleanups.push(() => {
      try {
        process.kill(vm.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    const r = await s.run(['stop', 'hung']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('hung: stopped');
    expect(pidAlive(vm.pid!)).toBe(false);
    const driverLog = fs.readFileSync(vm.paths!.driverLog, 'utf8');
    expect(driverLog).toMatch(/sending SIGKILL to QEMU pid/);
    expect(qemuPidsUnder(s.root)).toEqual([]);
  });

  it('lets exactly one of two drivers started at the same instant own the VMs', async () => {
    const s = sandbox();
    const start = () => spawn(process.execPath, [VMDESK, 'driver'], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const a = start();
    const b = start();
    cleanups.push(() => {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
    });
    const outcome = (c: typeof a) =>
      new Promise<string>((resolve) => {
        let err = '';
        c.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('vmdesk driver running')) resolve('owner');
        });
        c.once('exit', (code) => resolve(`exit ${code}: ${err.trim()}`));
      });
    const results = await Promise.all([outcome(a), outcome(b)]);
    expect(results.filter((r) => r === 'owner')).toHaveLength(1);
    const loser = results.find((r) => r !== 'owner')!;
    expect(loser).toMatch(/^exit 1: vmdesk: Another vmdesk \(pid \d+, driver\) already manages these VMs/);
  });

  it.skipIf(!isRoot)(
    'keeps every VM file intact when the config disk is full, and leaves no half-made VM (needs root for a tmpfs)',
    async () => {
      const s = sandbox();
      const small = path.join(s.root, 'small');
      fs.mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96k,mode=0700', 'tmpfs', small]);
      cleanups.push(() => {
        try {
          execFileSync('umount', ['-l', small]);
        } catch {
          /* already gone */
        }
      });
      const env = { XDG_CONFIG_HOME: path.join(small, 'c'), XDG_DATA_HOME: path.join(small, 'd') };
      const first = await s.json<VmSummary>(['define', '--name', 'keep', '--memory', '128M'], env);
      const before = fs.readFileSync(first.file, 'utf8');
      // Fill the filesystem to the last block.
      const filler = path.join(small, 'filler');
      try {
        fs.writeFileSync(filler, Buffer.alloc(200 * 1024));
      } catch {
        /* ENOSPC: full, as intended */
      }
      const r = await s.run(['define', '--name', 'nospace', '--memory', '128M', '--disk-size', '1M'], { env });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/ENOSPC|no space|does not fit/i);
      const names = fs.readdirSync(path.dirname(first.file));
      expect(names).toEqual([path.basename(first.file)]); // no temp file, no second VM
      expect(fs.readFileSync(first.file, 'utf8')).toBe(before);
      const dataVms = path.join(small, 'd', 'vmdesk', 'vms');
      expect(fs.existsSync(dataVms) ? fs.readdirSync(dataVms) : []).toEqual([]);
      fs.rmSync(filler, { force: true });
      const list = await s.json<VmSummary[]>(['list'], env);
      expect(list.map((v) => [v.name, v.state])).toEqual([['keep', 'stopped']]);
    },
  );

  it(
    'caps the serial log while the guest floods its serial port; the newest output is kept',
    { timeout: 600_000 },
    async () => {
      const cap = 256 * 1024;
      const s = sandbox({ VMDESK_LOG_CAP_BYTES: String(cap) });
      await s.json(['define', '--name', 'flood', '--memory', '128M', '--cdrom', guestIso()]);
      const driver = await s.startDriver();
      cleanups.push(() => driver.kill('SIGKILL'));
      const vm = await s.json<VmSummary>(['start', 'flood']);
      await s.waitForFileText(vm.paths!.serialLog, 'VMDESK-GUEST-READY');
      // The guest writes as fast as it can (1.5 MB = 6 × the cap; VMDESK_FLOOD_BYTES=60000000 is the
      // long variant, about a minute of output under TCG), then a marker; the driver caps as it goes.
      const bytes = Number(process.env.VMDESK_FLOOD_BYTES ?? 1_500_000);
      const c = await s.console(
        'flood',
        `yes "flood xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" | head -c ${bytes}; echo FLOOD-DONE-$((1+1))\n`,
        'FLOOD-DONE-2',
        180_000 + bytes / 100,
      );
      expect(c.code).toBe(0);
      // The marker may already have been rotated into `.1`: look at both generations.
      const bothLogs = () =>
        ['.1', '']
          .map((g) => {
            try {
              return fs.readFileSync(vm.paths!.serialLog + g, 'utf8');
            } catch {
              return '';
            }
          })
          .join('');
      await waitFor(() => bothLogs().includes('FLOOD-DONE-2'), 'the marker in the log', 30_000);
      // Give the capper one more change event to act on, then check both generations.
      await new Promise((r) => setTimeout(r, 1500));
      const size = fs.statSync(vm.paths!.serialLog).size;
      const older = fs.statSync(`${vm.paths!.serialLog}.1`).size;
      // The cap is enforced on change events (at most every 500 ms), so a file may overshoot by
      // what the guest writes in that time; at TCG serial speed that is well under 25 %.
      expect(size).toBeLessThanOrEqual(cap * 1.25);
      expect(older).toBeLessThanOrEqual(cap);
      expect(older).toBeGreaterThan(cap / 2); // it did rotate
      // Newest kept: in the current file, or in `.1` when a rotation came right after it — and the
      // log tail (what `vmdesk log` and the UI show) reaches into `.1` to find it.
      const both = fs.readFileSync(`${vm.paths!.serialLog}.1`, 'utf8') + fs.readFileSync(vm.paths!.serialLog, 'utf8');
      expect(both.slice(-4096)).toContain('FLOOD-DONE-2');
      expect((await s.run(['log', 'flood', '--serial', '--lines', '5'])).stdout).toContain('FLOOD-DONE-2');
      expect((await s.run(['stop', 'flood'])).code).toBe(0);
    },
  );

  it('keeps a running driver reachable after its runtime dir is deleted, and its VMs controllable', async () => {
    const s = sandbox();
    await s.json(['define', '--name', 'survivor', '--memory', '128M', '--cdrom', guestIso()]);
    const driver = await s.startDriver();
    cleanups.push(() => driver.kill('SIGKILL'));
    const vm = await s.json<VmSummary>(['start', 'survivor']);
    const runtime = path.join(s.env.XDG_RUNTIME_DIR!, 'vmdesk');
    fs.rmSync(runtime, { recursive: true, force: true });
    // The driver brings its control socket back; the VM is still driven over the QMP
    // connection the driver already holds.
    await waitFor(() => fs.existsSync(path.join(runtime, 'control.sock')), 'the control socket to come back', 10_000);
    expect(fs.statSync(runtime).mode & 0o777).toBe(0o700);
    const info = await s.json<VmSummary>(['info', 'survivor']);
    expect(info.state).toBe('running');
    expect(info.pid).toBe(vm.pid);
    const stopped = await s.run(['stop', 'survivor']);
    expect(stopped.stdout).toContain('survivor: stopped');
    expect(pidAlive(vm.pid!)).toBe(false);
    // And a new start works in the re-created directory.
    expect((await s.run(['start', 'survivor'])).code).toBe(0);
    expect((await s.run(['stop', 'survivor'])).code).toBe(0);
    expect(driver.exitCode).toBeNull();
  });

  const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
  it.skipIf(!fs.existsSync(FAKETIME))(
    'keeps working when the wall clock jumps a year back and forward under a running driver (libfaketime; skipped without it)',
    async () => {
      const s = sandbox();
      const clock = path.join(s.root, 'clock');
      fs.writeFileSync(clock, '+0');
      // Only the driver's wall clock is faked; its monotonic clock stays real, as on a real host
      // whose time is corrected by NTP or changed by hand.
      const driver = await s.startDriver({
        LD_PRELOAD: FAKETIME,
        FAKETIME_TIMESTAMP_FILE: clock,
        FAKETIME_NO_CACHE: '1',
        DONT_FAKE_MONOTONIC: '1',
      });
      cleanups.push(() => driver.kill('SIGKILL'));
      await s.json(['define', '--name', 'clocky', '--memory', '128M', '--cdrom', guestIso()]);
      const vm = await s.json<VmSummary>(['start', 'clocky']);
      await s.waitForFileText(vm.paths!.serialLog, 'VMDESK-GUEST-READY');
      fs.writeFileSync(clock, '-365d');
      expect((await s.run(['pause', 'clocky'])).stdout).toContain('clocky: paused');
      expect((await s.run(['resume', 'clocky'])).stdout).toContain('clocky: running');
      const viaConsole = await s.console('clocky', 'echo tick-$((2*21))\n', 'tick-42');
      expect(viaConsole.code).toBe(0);
      fs.writeFileSync(clock, '+365d');
      const down = await s.run(['shutdown', 'clocky', '--wait', '--timeout', '60']);
      expect(down.stdout).toContain('clocky: stopped');
      expect((await s.run(['start', 'clocky'])).code).toBe(0);
      expect((await s.run(['stop', 'clocky'])).stdout).toContain('clocky: stopped');
      // The driver's own log shows the jumps: its timestamps went back, then forward.
      const years = [...fs.readFileSync(vm.paths!.driverLog, 'utf8').matchAll(/^(\d{4})-/gm)].map((m) => Number(m[1]));
      expect(Math.min(...years)).toBeLessThan(Math.max(...years));
      expect(driver.exitCode).toBeNull();
    },
  );
});
