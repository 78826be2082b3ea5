/**
 * What a Windows 11 guest needs, proven with the real parts under TCG: OVMF with Secure Boot
 * enforced and Microsoft's keys enrolled (only Debian's signed shim, GRUB and kernel boot), a TPM
 * 2.0 from a real swtpm that the VM owns (private files, adopted after the driver is SIGKILLed,
 * ended with the VM), and the QEMU guest agent (real qemu-ga in the test guest) read into the
 * VM's summary and used to shut down a guest that ignores the power button.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmSummary } from '../app/main/common/vm-types.js';
import { attachVmdeskConsole, GuestShell } from './guest/guest-shell.js';
import { guestIso, qemuPidsUnder, Sandbox, waitFor } from './support/cli.js';

const sandboxes: Sandbox[] = [];
afterAll(() => {
  for (const s of sandboxes) s.cleanup();
});
function sandbox(): Sandbox {
  const s = new Sandbox();
  sandboxes.push(s);
  return s;
}

/** guest-sb.iso: built next to guest.iso by the same script (e2e/guest/build-guest.sh). */
const secureBootIso = () => path.join(path.dirname(guestIso()), 'guest-sb.iso');

/** swtpm processes on this VM's TPM state, with their owner. */
function swtpms(vmId: string): { pid: number; uid: number }[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const argv = fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0');
      if (!/(^|\/)swtpm$/.test(argv[0] ?? '') || !argv.some((a) => a.includes(`/${vmId}/tpm,`))) return [];
      return [{ pid: Number(n), uid: fs.statSync(`/proc/${n}`).uid }];
    } catch {
      return [];
    }
  });
}

/** The guest's UEFI SecureBoot variable: 4 attribute bytes, then 1 (enforced) or 0. */
async function secureBootState(shell: GuestShell): Promise<string> {
  const out = await shell.check(
    'od -An -tx1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | tr -d " \\n"',
  );
  return out.slice(-2);
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('Windows-ready guests', () => {
  it('boots Debian’s signed chain under Secure Boot with a TPM 2.0; swtpm is the VM’s, adopted and ended with it', async () => {
    const s = sandbox();
    let driver = await s.startDriver();
    const def = await s.json<VmSummary>([
      'define',
      '--name',
      'sb',
      '--memory',
      '512M',
      '--cdrom',
      secureBootIso(),
      '--secure-boot',
      '--tpm',
    ]);
    expect(def.definition).toMatchObject({ firmware: 'uefi', secureBoot: true, tpm: true });
    const nvram = def.definition!.nvram!;
    expect(path.basename(nvram)).toBe('efivars-secure.fd');
    expect(mode(nvram)).toBe(0o600);
    const started = await s.json<VmSummary>(['start', 'sb']);
    const cmdline = fs.readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('q35,pflash0=fw-code,pflash1=fw-vars,smm=on');
    expect(cmdline).toContain('driver=cfi.pflash01,property=secure,value=on');
    expect(cmdline.find((a) => a.includes('"node-name":"fw-code"'))).toContain('OVMF_CODE_4M.ms.fd');

    // swtpm runs as the driver's user, with private state, socket and log.
    const [tpm, ...more] = swtpms(def.id);
    expect(more).toEqual([]);
    expect(tpm!.uid).toBe(process.getuid!());
    const dataDir = path.dirname(nvram);
    expect(mode(path.join(dataDir, 'tpm'))).toBe(0o700);
    for (const f of fs.readdirSync(path.join(dataDir, 'tpm')))
      expect(mode(path.join(dataDir, 'tpm', f)), f).toBe(0o600);
    const runtime = path.dirname(started.paths!.qmp);
    expect(mode(path.join(runtime, 'swtpm.sock'))).toBe(0o600);

    const shell = new GuestShell(await attachVmdeskConsole(s, 'sb'));
    try {
      await shell.ready(240_000);
      await shell.check('dmesg -n 1');
      expect(await secureBootState(shell)).toBe('01');
      expect(await shell.check('ls /sys/class/tpm')).toBe('tpm0');
      expect(await shell.check('cat /sys/class/tpm/tpm0/tpm_version_major')).toBe('2');
    } finally {
      shell.link.close();
    }

    // The driver dies: the next one adopts QEMU and its swtpm (the same process, not a second).
    driver.kill('SIGKILL');
    await new Promise((r) => driver.once('exit', r));
    expect(swtpms(def.id).map((t) => t.pid)).toEqual([tpm!.pid]);
    driver = await s.startDriver();
    const adopted = await s.json<VmSummary>(['info', 'sb']);
    expect(adopted).toMatchObject({ state: 'running', pid: started.pid });
    expect(swtpms(def.id).map((t) => t.pid)).toEqual([tpm!.pid]);
    const log = fs.readFileSync(adopted.paths!.driverLog, 'utf8');
    expect(log).toContain(`adopted swtpm pid ${tpm!.pid}`);

    // Ended with the VM, by the time the stop returns; nothing left in the runtime dir.
    await s.json(['stop', 'sb']);
    expect(swtpms(def.id)).toEqual([]);
    expect(qemuPidsUnder(s.root)).toEqual([]);
    expect(fs.existsSync(path.join(runtime, 'swtpm.sock'))).toBe(false);
    expect(fs.statSync(adopted.paths!.qemuLog).size).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(path.dirname(adopted.paths!.qemuLog), 'swtpm.log'))).toBe(true);
    driver.kill('SIGKILL');
  }, 400_000);

  it('with Secure Boot off any EFI GRUB boots (the unsigned one of guest.iso), TPM and all', async () => {
    const s = sandbox();
    await s.startDriver();
    await s.json([
      'define',
      '--name',
      'plain',
      '--memory',
      '256M',
      '--cdrom',
      guestIso(),
      '--firmware',
      'uefi',
      '--tpm',
    ]);
    await s.json(['start', 'plain']);
    const shell = new GuestShell(await attachVmdeskConsole(s, 'plain'));
    try {
      await shell.ready(240_000);
      await shell.check('dmesg -n 1');
      expect(await secureBootState(shell)).toBe('00');
      expect(await shell.check('ls /sys/class/tpm')).toBe('tpm0');
    } finally {
      shell.link.close();
      await s.run(['stop', 'plain']);
    }
  }, 400_000);

  it('reads the guest agent (name, OS, address) and shuts down through it a guest that ignores the power button', async () => {
    const s = sandbox();
    await s.startDriver();
    await s.json(['define', '--name', 'agent', '--memory', '256M', '--cdrom', guestIso()]);
    const vm = await s.json<VmSummary>(['start', 'agent']);
    let info: VmSummary | undefined;
    await waitFor(
      async () => {
        info = await s.json<VmSummary>(['info', 'agent']);
        return !!info.guest?.connected;
      },
      'the guest agent to answer',
      180_000,
    );
    expect(info!.guest!.info).toMatchObject({
      hostname: 'vmdesk-guest',
      addresses: expect.arrayContaining([{ iface: 'eth0', address: '10.0.2.15', prefix: 24, family: 'ipv4' }]),
    });
    expect(info!.guest!.info!.os?.prettyName).toMatch(/vmdesk test guest/i);
    const text = (await s.run(['info', 'agent'])).stdout;
    expect(text).toMatch(/^Guest name: +vmdesk-guest$/m);
    expect(text).toMatch(/^Guest IPs: +10\.0\.2\.15\/24 \(eth0\)/m);

    // The guest stops listening to the power button; the agent is asked halfway to the deadline.
    const shell = new GuestShell(await attachVmdeskConsole(s, 'agent'));
    try {
      await shell.ready();
      await shell.check('dmesg -n 1');
      await shell.check('killall acpid');
    } finally {
      shell.link.close();
    }
    const down = await s.run(['shutdown', 'agent', '--wait', '--timeout', '40'], { timeoutMs: 120_000 });
    expect(down.code, down.stderr).toBe(0);
    const after = await s.json<VmSummary>(['info', 'agent']);
    expect(after.state).toBe('stopped');
    const log = fs.readFileSync(vm.paths!.driverLog, 'utf8');
    expect(log).toContain('asking its guest agent to shut it down');
    expect(log).not.toContain('forcing off');
    expect(fs.readFileSync(vm.paths!.serialLog, 'utf8')).toContain('guest agent shutdown');
  }, 400_000);

  it('takes a snapshot of a running guest’s disks alone, its file systems frozen by the agent', async () => {
    const s = sandbox();
    await s.startDriver();
    await s.json(['define', '--name', 'frozen', '--memory', '256M', '--disk-size', '64M', '--cdrom', guestIso()]);
    await s.json(['start', 'frozen']);
    await waitFor(
      async () => !!(await s.json<VmSummary>(['info', 'frozen'])).guest?.connected,
      'the guest agent to answer',
      180_000,
    );
    let shell = new GuestShell(await attachVmdeskConsole(s, 'frozen'));
    try {
      await shell.ready();
      await shell.check('dmesg -n 1');
      await shell.check('printf before-snapshot | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null');
      const taken = await s.run(['snapshot', 'create', 'frozen', 'disks', '--disk-only']);
      expect(taken.code, taken.stderr).toBe(0);
      await shell.check('printf after--snapshot | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null');
    } finally {
      shell.link.close();
    }
    const info = await s.json<VmSummary>(['info', 'frozen']);
    expect(fs.readFileSync(info.paths!.driverLog, 'utf8')).toMatch(
      /the guest agent froze \d+ file systems? for the snapshot \(thawed \d+\)/,
    );
    // It goes back with the VM off, and the disk is as it was when the snapshot was taken.
    await s.json(['stop', 'frozen']);
    const back = await s.run(['snapshot', 'revert', 'frozen', 'disks']);
    expect(back.code, back.stderr).toBe(0);
    await s.json(['start', 'frozen']);
    shell = new GuestShell(await attachVmdeskConsole(s, 'frozen'));
    try {
      await shell.ready();
      await shell.check('dmesg -n 1');
      expect(await shell.check('dd if=/dev/vda bs=15 count=1 2>/dev/null')).toBe('before-snapshot');
    } finally {
      shell.link.close();
      await s.run(['stop', 'frozen']);
    }
  }, 400_000);
});
