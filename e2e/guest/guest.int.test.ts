// Boots the test guest under raw QEMU (TCG) and checks its whole contract: the ready marker on
// serial and VGA, a usable serial shell, a clean ACPI power-off on QMP system_powerdown, the
// devices of a vmdesk VM (virtio disks, CD-ROMs on the AHCI ports, the virtio NIC on user
// networking), and a boot under UEFI (OVMF) as well as BIOS. Self-contained on purpose (own tiny
// QMP helper, QEMU command lines written out here): it vets the guest that the real QEMU driver's
// integration tests then rely on. The last tests drive the guest through the real driver, as
// those tests do.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { guestIso, Sandbox } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { ensureSecureBootTestGuest, ensureTestGuest, GUEST_ISO_ENV } from './guest.js';
import {
  attachVmdeskConsole,
  GuestShell,
  openGuestAgent,
  openSerialSocket,
  READY,
  talkTcp,
  type SerialLink,
} from './guest-shell.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const POWEROFF = 'VMDESK-GUEST-POWEROFF';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 50 ms; rejects after timeoutMs with what() as the explanation. */
async function waitUntil(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(50);
  }
}

/** Connects to a unix socket QEMU is about to create (server=on,wait=off), retrying briefly. */
async function connectUnix(sockPath: string): Promise<net.Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const sock = net.createConnection(sockPath, () => resolve(sock));
        sock.once('error', reject);
      });
    } catch (err) {
      if (attempt >= 200) throw err; // ~10 s
      await sleep(50);
    }
  }
}

interface Guest {
  qemu: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  serial: SerialLink;
  shell: GuestShell;
  qmpPath: string;
  dir: string;
  diagnostics: () => string;
}

/** A temp dir removed after the test; short, since unix socket paths must stay under ~107 bytes. */
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmdg-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Debian's `ovmf` package: the 4 MiB OVMF without Secure Boot, as vmdesk picks it on x86. */
const OVMF = { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' };
/**
 * The same package's Secure Boot build (it needs SMM) and a variable store with Microsoft's keys
 * enrolled (KEK, and db with the Windows and the UEFI third-party CAs, which signed shim), Secure
 * Boot on.
 */
const OVMF_SB = { code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' };

type Firmware = 'bios' | 'uefi' | 'uefi-secure-boot';

/**
 * QEMU arguments for the firmware, as vmdesk builds them: none for BIOS (SeaBIOS is QEMU's
 * default); for UEFI the OVMF code read-only on pflash0 and a private copy of the variable store,
 * made in `dir`, on pflash1 (OVMF writes its boot entries there); with Secure Boot, SMM on and
 * the flash writable only from SMM, so the guest cannot rewrite the keys.
 */
function firmwareArgs(firmware: Firmware, dir: string): { machine: string; args: string[] } {
  if (firmware === 'bios') return { machine: 'q35', args: [] };
  const fw = firmware === 'uefi' ? OVMF : OVMF_SB;
  for (const f of [fw.code, fw.vars])
    if (!existsSync(f)) throw new Error(`${f} is missing: the UEFI boot tests need OVMF (apt-get install ovmf)`);
  const vars = path.join(dir, 'vars.fd');
  copyFileSync(fw.vars, vars);
  const blockdevs = [
    '-blockdev',
    `driver=file,filename=${fw.code},node-name=fw-code,read-only=on`,
    '-blockdev',
    `driver=file,filename=${vars},node-name=fw-vars`,
  ];
  if (firmware === 'uefi') return { machine: 'q35,pflash0=fw-code,pflash1=fw-vars', args: blockdevs };
  return {
    machine: 'q35,smm=on,pflash0=fw-code,pflash1=fw-vars',
    args: [...blockdevs, '-global', 'driver=cfi.pflash01,property=secure,value=on'],
  };
}

/**
 * Boots the guest ISO the way vmdesk does on x86 (q35, the ISO in an ide-cd on the first AHCI
 * port, id cd0), plus `extra` QEMU arguments (more drives, a NIC); under BIOS unless told UEFI;
 * 256 MiB of RAM unless told otherwise.
 */
async function bootGuest(
  iso: string,
  extra: string[] = [],
  opts: { firmware?: Firmware; memory?: string } = {},
): Promise<Guest> {
  const dir = tempDir();
  const serialPath = path.join(dir, 'serial.sock');
  const qmpPath = path.join(dir, 'qmp.sock');
  const fw = firmwareArgs(opts.firmware ?? 'bios', dir);
  // -accel tcg: guests hang under KVM on the CI machine. -no-reboot: a kernel panic (panic=1)
  // ends QEMU instead of looping. No -no-shutdown: a guest power-off ends the process.
  // logfile= keeps serial output produced before the test connects (for diagnostics).
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-M',
      fw.machine,
      ...fw.args,
      '-m',
      opts.memory ?? '256',
      '-nodefaults',
      '-no-user-config',
      '-no-reboot',
      '-display',
      'none',
      '-device',
      'VGA',
      '-blockdev',
      `driver=file,filename=${iso},node-name=boot,read-only=on`,
      '-device',
      'ide-cd,drive=boot,bus=ide.0,id=cd0,bootindex=0',
      '-chardev',
      `socket,id=s0,path=${serialPath},server=on,wait=off,logfile=${path.join(dir, 'serial.log')}`,
      '-serial',
      'chardev:s0',
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  qemu.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    qemu.once('exit', (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(() => {
    if (running(qemu)) qemu.kill('SIGKILL');
  });

  const serial = await openSerialSocket(serialPath);
  cleanups.push(() => serial.close());
  return {
    qemu,
    exited,
    qmpPath,
    dir,
    serial,
    shell: new GuestShell(serial),
    diagnostics: () => `\n--- serial (tail) ---\n${serial.text().slice(-2000)}\n--- qemu stderr ---\n${stderr}`,
  };
}

/** Minimal QMP: one command at a time; events are ignored. */
async function openQmp(sockPath: string) {
  const sock = await connectUnix(sockPath);
  cleanups.push(() => sock.destroy());
  const replies: Record<string, unknown>[] = []; // [0] is the greeting
  let buf = '';
  sock.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (!('event' in msg)) replies.push(msg);
    }
  });
  await waitUntil(
    () => replies.length > 0,
    10_000,
    () => 'QMP greeting',
  );
  let next = 1;
  return async (execute: string, args?: Record<string, unknown>): Promise<unknown> => {
    sock.write(`${JSON.stringify({ execute, arguments: args })}\n`);
    await waitUntil(
      () => replies.length > next,
      10_000,
      () => `QMP reply to ${execute}`,
    );
    const reply = replies[next++]!;
    if ('error' in reply) throw new Error(`QMP ${execute}: ${JSON.stringify(reply.error)}`);
    return reply.return;
  };
}

/** Share of non-black pixels in a binary PPM (P6, maxval 255), as QMP screendump writes it. */
function litFraction(ppm: Buffer): number {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a P6 PPM');
  const pixels = ppm.subarray(header[0].length);
  let lit = 0;
  for (let i = 0; i + 2 < pixels.length; i += 3) if (pixels[i]! + pixels[i + 1]! + pixels[i + 2]! > 96) lit++;
  return lit / (pixels.length / 3);
}

describe('test guest', () => {
  it('globalSetup exported the ISO path to this worker through process.env', async () => {
    const { iso } = await ensureTestGuest();
    expect(process.env[GUEST_ISO_ENV]).toBe(iso);
  });

  it('init parses vmdesk.timeout= from the kernel command line (safety power-off)', async () => {
    const { iso } = await ensureTestGuest();
    // The build keeps a copy of the init it packed next to the ISO.
    const init = readFileSync(path.join(path.dirname(iso), 'init'), 'utf8');
    expect(init).toBe(readFileSync(path.join(here, 'init'), 'utf8'));
    expect(init).toMatch(/timeout=\$\(parse_timeout "\$\(cat \/proc\/cmdline\)"\)/);
    expect(init).toMatch(/sleep "\$timeout" && \/bin\/vmdesk-poweroff/);
    // Run the function itself with the busybox that goes into the guest.
    const fn = /^parse_timeout\(\) \{\n[\s\S]*?^\}\n/m.exec(init)?.[0];
    expect(fn).toBeDefined();
    const parse = (cmdline: string) =>
      execFileSync('/bin/busybox', ['sh', '-c', `${fn}\nparse_timeout "$1"`, 'sh', cmdline], {
        encoding: 'utf8',
      }).trim();
    expect(parse('BOOT_IMAGE=/boot/vmlinuz console=ttyS0,115200 quiet vmdesk.timeout=42 panic=1')).toBe('42');
    expect(parse('console=tty0 quiet')).toBe('600');
    expect(parse('vmdesk.timeout=soon *')).toBe('600');
  });

  it('boots to the marker, runs a serial shell, and powers off on system_powerdown', async () => {
    const iso = process.env[GUEST_ISO_ENV] ?? (await ensureTestGuest()).iso;
    const started = Date.now();
    const guest = await bootGuest(iso);
    const { serial } = guest;
    const waitSerial = (needle: string, timeoutMs: number, from = 0) =>
      waitUntil(
        () => serial.text().includes(needle, from) || !running(guest.qemu),
        timeoutMs,
        () => `"${needle}" on serial${guest.diagnostics()}`,
      ).then(() => {
        if (!serial.text().includes(needle, from))
          throw new Error(`QEMU exited before "${needle}"${guest.diagnostics()}`);
      });

    await waitSerial(READY, 90_000);
    console.log(`test guest: ${READY} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The shell: wait for its prompt, then a command whose output differs from its echo.
    let from = serial.text().indexOf(READY);
    await waitSerial('# ', 30_000, from);
    serial.write('echo hello-$((6*7))\n');
    await waitSerial('hello-42', 30_000, from);
    // init respawns the shell when it exits.
    from = serial.text().length;
    serial.write('exit\n');
    await waitSerial('built-in shell', 30_000, from);
    serial.write('echo again-$((1+1))\n');
    await waitSerial('again-2', 30_000, from);

    const qmp = await openQmp(guest.qmpPath);
    await qmp('qmp_capabilities');

    // The VGA text console shows the marker banner: its reverse-video bars light ~6% of the
    // pixels; the console before init draws it (quiet kernel) lights ~0.2%.
    const ppm = path.join(guest.dir, 'vga.ppm');
    await qmp('screendump', { filename: ppm });
    expect(litFraction(readFileSync(ppm))).toBeGreaterThan(0.02);

    const powerdownAt = Date.now();
    await qmp('system_powerdown');
    const exit = await Promise.race([guest.exited, sleep(60_000).then(() => 'timeout' as const)]);
    expect(exit, `QEMU did not exit within 60 s of system_powerdown${guest.diagnostics()}`).not.toBe('timeout');
    console.log(`test guest: QEMU exited ${((Date.now() - powerdownAt) / 1000).toFixed(1)} s after system_powerdown`);
    expect(exit).toEqual({ code: 0, signal: null });
    await waitUntil(
      () => serial.ended() !== undefined,
      5_000,
      () => 'serial socket close',
    ).catch(() => {}); // drain
    expect(serial.text()).toContain(POWEROFF);
  });
});

describe('the test guest under UEFI', () => {
  it('boots under OVMF to the marker on serial and VGA, and its serial shell answers', async () => {
    const iso = process.env[GUEST_ISO_ENV] ?? (await ensureTestGuest()).iso;
    const started = Date.now();
    const guest = await bootGuest(iso, [], { firmware: 'uefi' });
    const { shell } = guest;
    // A BIOS-only ISO fails here: OVMF finds nothing to boot on the CD and drops to its shell.
    await shell.ready(120_000).catch((err: unknown) => {
      throw new Error(`${String(err)}${guest.diagnostics()}`);
    });
    console.log(`test guest (UEFI): ${READY} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(await shell.check('echo hello-$((6*7))')).toBe('hello-42');
    // Booted through UEFI (not a legacy fallback): the kernel has EFI runtime services, and the
    // VGA console is the EFI framebuffer GRUB handed over.
    expect(await shell.check('test -d /sys/firmware/efi && echo efi')).toBe('efi');
    expect(await shell.check('cat /proc/fb')).toContain('EFI VGA');

    const qmp = await openQmp(guest.qmpPath);
    await qmp('qmp_capabilities');
    const ppm = path.join(guest.dir, 'vga.ppm');
    await qmp('screendump', { filename: ppm });
    // The marker banner, on OVMF's 1280x800 framebuffer instead of the 720x400 text screen of
    // BIOS, lights ~1.6% of the pixels: half of that is the bar.
    expect(litFraction(readFileSync(ppm))).toBeGreaterThan(0.008);
  });
});

/**
 * A real swtpm (TPM 2.0, state in `dir`) and the QEMU arguments of a `device` (tpm-crb as vmdesk
 * uses on x86_64, or tpm-tis) in front of it. --terminate: it exits once QEMU closes the
 * connection, so it ends with QEMU.
 */
async function startSwtpm(dir: string, device: 'tpm-crb' | 'tpm-tis') {
  const state = path.join(dir, 'tpm');
  mkdirSync(state);
  const sock = path.join(dir, 'swtpm.sock');
  const swtpm = spawn(
    'swtpm',
    ['socket', '--tpm2', '--tpmstate', `dir=${state}`, '--ctrl', `type=unixio,path=${sock}`, '--terminate'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  swtpm.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  swtpm.once('error', (err) => (stderr += `\n${err.message} (is swtpm installed? apt-get install swtpm)`));
  const exited = new Promise<number | null>((resolve) => swtpm.once('close', (code) => resolve(code)));
  cleanups.push(() => {
    if (running(swtpm)) swtpm.kill('SIGKILL');
  });
  // QEMU connects once, at start: the socket must be there first.
  await waitUntil(
    () => existsSync(sock) || !running(swtpm),
    10_000,
    () => `swtpm's control socket ${sock}: ${stderr}`,
  );
  if (!existsSync(sock)) throw new Error(`swtpm exited: ${stderr}`);
  return {
    exited,
    args: ['-chardev', `socket,id=chrtpm,path=${sock}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm'].concat([
      '-device',
      `${device},tpmdev=tpm0`,
    ]),
  };
}

/** The guest command that prints the TPM's major version and the driver bound to it. */
const TPM_INFO = 'cat /sys/class/tpm/tpm0/tpm_version_major; basename $(readlink /sys/class/tpm/tpm0/device/driver)';

/** Waits for QEMU to exit after the guest powered off; returns how it exited. */
async function waitExit(guest: Guest, what: string) {
  const exit = await Promise.race([guest.exited, sleep(60_000).then(() => 'timeout' as const)]);
  expect(exit, `QEMU did not exit within 60 s of ${what}${guest.diagnostics()}`).not.toBe('timeout');
  return exit;
}

describe('the test guest under Secure Boot (guest-sb.iso)', () => {
  it("boots through Debian's signed shim, GRUB and kernel with Secure Boot enforced, and sees the swtpm TPM 2.0 behind tpm-crb", async () => {
    const { iso } = await ensureSecureBootTestGuest();
    const dir = tempDir();
    const tpm = await startSwtpm(dir, 'tpm-crb');
    const started = Date.now();
    // 512 MiB: in 256 the kernel's EFI stub finds no room to decompress it (see build-guest.sh).
    const guest = await bootGuest(iso, tpm.args, { firmware: 'uefi-secure-boot', memory: '512' });
    const { shell } = guest;
    await shell.ready(180_000).catch((err: unknown) => {
      throw new Error(`${String(err)}${guest.diagnostics()}`);
    });
    console.log(`test guest (UEFI Secure Boot + TPM): ${READY} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The firmware says Secure Boot is on (the variable: 4 bytes of attributes, then the value).
    const secureBoot = await shell.check(
      'od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c',
    );
    expect(secureBoot.trim().split(/\s+/).pop()).toBe('1');
    // The kernel saw it too: it says so, and locked itself down as Debian's kernel does then.
    expect(await shell.check("dmesg | grep -o 'Secure boot enabled'")).toBe('Secure boot enabled');
    expect(
      await shell.check('mount -t securityfs securityfs /sys/kernel/security; cat /sys/kernel/security/lockdown'),
    ).toContain('[integrity]');
    // Locked down, the kernel loads only modules signed with its build key: these were loaded.
    expect((await shell.check("cut -d' ' -f1 /proc/modules")).split('\n')).toEqual(
      expect.arrayContaining(['ahci', 'sr_mod', 'isofs', 'efivarfs']),
    );

    expect((await shell.check(TPM_INFO)).split('\n')).toEqual(['2', 'tpm_crb']);
    // The firmware measured itself into the swtpm: PCR 0 is no longer all zeros.
    expect(await shell.check('cat /sys/class/tpm/tpm0/pcr-sha256/0')).toMatch(/^(?!0+$)[0-9A-F]{64}$/);

    const qmp = await openQmp(guest.qmpPath);
    await qmp('qmp_capabilities');
    await qmp('system_powerdown');
    expect(await waitExit(guest, 'system_powerdown')).toEqual({ code: 0, signal: null });
    // swtpm ends with QEMU.
    expect(await Promise.race([tpm.exited, sleep(10_000).then(() => 'still running')])).toBe(0);
  });

  it('refuses guest.iso there: OVMF denies its unsigned bootx64.efi, so nothing on the CD starts', async () => {
    const { iso } = await ensureTestGuest();
    const guest = await bootGuest(iso, [], { firmware: 'uefi-secure-boot', memory: '512' });
    const { serial } = guest;
    await waitUntil(
      () => serial.text().includes('No bootable option or device was found') || !running(guest.qemu),
      180_000,
      () => `OVMF giving up${guest.diagnostics()}`,
    );
    const text = serial.text();
    expect(text, guest.diagnostics()).toMatch(
      /failed to load Boot0001 "UEFI QEMU DVD-ROM[^"]*" from \S+: Access Denied/,
    );
    expect(text).not.toContain('Welcome to GRUB');
    expect(text).not.toContain(READY);
  });
});

describe('the QEMU guest agent in the test guest', () => {
  it('answers ping, host name, OS and interfaces, comes back after it dies, and guest-shutdown powers off', async () => {
    const { iso } = await ensureTestGuest();
    const dir = tempDir();
    const qgaPath = path.join(dir, 'qga.sock');
    // A TPM behind tpm-tis here (tpm-crb is the Secure Boot test's), as the guest's own check.
    const tpm = await startSwtpm(dir, 'tpm-tis');
    const guest = await bootGuest(iso, [
      ...tpm.args,
      ...['-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0,id=net0dev'],
      ...['-device', 'virtio-serial-pci,id=vser0'],
      ...['-chardev', `socket,id=qga0,path=${qgaPath},server=on,wait=off`],
      ...['-device', 'virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0'],
    ]);
    const { shell, serial } = guest;
    await shell.ready(120_000).catch((err: unknown) => {
      throw new Error(`${String(err)}${guest.diagnostics()}`);
    });
    expect(serial.text()).toMatch(/VMDESK-GUEST-AGENT \/dev\/vport\d+p\d+/);
    expect(await shell.check('readlink /dev/virtio-ports/org.qemu.guest_agent.0')).toMatch(/^\.\.\/vport\d+p\d+$/);
    expect((await shell.check(TPM_INFO)).split('\n')).toEqual(['2', 'tpm_tis']);

    const agent = await openGuestAgent(qgaPath);
    cleanups.push(() => agent.close());
    await agent.sync();
    expect(await agent.execute('guest-ping')).toEqual({});
    expect(await agent.execute('guest-get-host-name')).toEqual({ 'host-name': 'vmdesk-guest' });
    expect(await agent.execute('guest-get-osinfo')).toMatchObject({
      id: 'vmdesk-test-guest',
      name: 'vmdesk test guest',
      'pretty-name': 'vmdesk test guest',
      'version-id': '1',
      'kernel-release': expect.stringMatching(/^6\.12\..*-cloud-amd64$/),
      machine: 'x86_64',
    });
    const ifaces =
      await agent.execute<{ name: string; 'ip-addresses'?: Record<string, unknown>[] }[]>(
        'guest-network-get-interfaces',
      );
    expect(ifaces.find((i) => i.name === 'eth0')?.['ip-addresses']).toContainEqual({
      'ip-address-type': 'ipv4',
      'ip-address': '10.0.2.15',
      prefix: 24,
    });
    // An unknown command gets QGA's error, not silence.
    await expect(agent.execute('guest-no-such-command')).rejects.toThrow(/CommandNotFound/);

    // init respawns the agent when it exits.
    const pid = await shell.check('pidof qemu-ga');
    await shell.check('kill $(pidof qemu-ga)');
    await agent.sync();
    expect(await agent.execute('guest-get-host-name')).toEqual({ 'host-name': 'vmdesk-guest' });
    expect(await shell.check('pidof qemu-ga')).not.toBe(pid);

    agent.send('guest-shutdown');
    expect(await waitExit(guest, 'guest-shutdown')).toEqual({ code: 0, signal: null });
    await waitUntil(
      () => serial.ended() !== undefined,
      5_000,
      () => 'serial socket close',
    ).catch(() => {}); // drain
    expect(serial.text()).toContain('guest agent shutdown');
    expect(serial.text()).toContain(POWEROFF);
    expect(await Promise.race([tpm.exited, sleep(10_000).then(() => 'still running')])).toBe(0);
  });
});

/** Boots the guest with `extra` devices and waits until its shell answers. */
async function bootToShell(extra: string[]): Promise<Guest> {
  const guest = await bootGuest(process.env[GUEST_ISO_ENV] ?? (await ensureTestGuest()).iso, extra);
  await guest.shell.ready(120_000);
  return guest;
}

/** A raw disk image of 1 MiB that starts with `signature`. */
function rawDisk(dir: string, name: string, signature: string): string {
  const file = path.join(dir, name);
  const bytes = Buffer.alloc(1 << 20);
  bytes.write(signature);
  writeFileSync(file, bytes);
  return file;
}

/** A small ISO 9660 image (Rock Ridge names) with volume id `volid` and a hello.txt. */
function smallIso(dir: string, volid: string): string {
  const tree = path.join(dir, `${volid}.d`);
  mkdirSync(tree);
  writeFileSync(path.join(tree, 'hello.txt'), `hello from ${volid}\n`);
  const iso = path.join(dir, `${volid}.iso`);
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-V', volid, '-o', iso, tree], { stdio: 'ignore' });
  return iso;
}

/** The guest command that prints the volume id of the disc in `dev` (see init). */
const readVolid = (dev: string) => `vmdesk-volid ${dev}`;

describe('the devices of a vmdesk VM', () => {
  it('sees a virtio disk attached at boot as /dev/vda, and a disk hot-added later as /dev/vdb', async () => {
    const dir = tempDir();
    const guest = await bootToShell([
      '-blockdev',
      `driver=file,filename=${rawDisk(dir, 'a.img', 'VMDESK-DISK-A')},node-name=disk0`,
      '-device',
      'virtio-blk-pci,drive=disk0,id=virtio-disk0',
      // q35's root complex takes no hotplug: a hot-added device goes into a root port.
      '-device',
      'pcie-root-port,id=rp1,chassis=1',
    ]);
    const { shell } = guest;
    // Present at boot: there by the ready marker, no waiting.
    expect((await shell.check('ls /sys/block')).split(/\s+/)).toContain('vda');
    expect(await shell.check('head -c 13 /dev/vda')).toBe('VMDESK-DISK-A');

    const qmp = await openQmp(guest.qmpPath);
    await qmp('qmp_capabilities');
    await qmp('blockdev-add', {
      driver: 'file',
      filename: rawDisk(dir, 'b.img', 'VMDESK-DISK-B'),
      'node-name': 'disk1',
    });
    await qmp('device_add', { driver: 'virtio-blk-pci', drive: 'disk1', id: 'virtio-disk1', bus: 'rp1' });
    expect(await shell.check('vmdesk-wait /dev/vdb 60 && head -c 13 /dev/vdb', { timeoutMs: 90_000 })).toBe(
      'VMDESK-DISK-B',
    );
  });

  it('reads the disc in each CD-ROM drive, refuses an empty one, and sees a disc changed live', async () => {
    const dir = tempDir();
    const [a, b] = [smallIso(dir, 'VMDESK_CD_A'), smallIso(dir, 'VMDESK_CD_B')];
    const { shell, qmpPath } = await bootToShell([
      '-blockdev',
      `driver=file,filename=${a},node-name=cdrom1,read-only=on`,
      '-device',
      'ide-cd,drive=cdrom1,bus=ide.1,id=cd1',
      '-device',
      'ide-cd,bus=ide.2,id=cd2', // empty, as vmdesk makes a drive with no disc
    ]);
    expect((await shell.check('ls /sys/block')).split(/\s+/)).toEqual(expect.arrayContaining(['sr0', 'sr1', 'sr2']));
    // /dev/srN in AHCI port order: the guest's own ISO is on port 0.
    expect((await shell.check(readVolid('/dev/sr0'))).trim()).toBe('VMDESK_TESTGUEST');
    expect((await shell.check(readVolid('/dev/sr1'))).trim()).toBe('VMDESK_CD_A');
    const empty = await shell.run(readVolid('/dev/sr2'));
    expect(empty.status).not.toBe(0);
    expect(empty.output).toContain('No medium found');

    const qmp = await openQmp(qmpPath);
    await qmp('qmp_capabilities');
    const change = (id: string, iso: string) =>
      qmp('blockdev-change-medium', { id, filename: iso, format: 'raw', 'read-only-mode': 'read-only' });
    await change('cd2', b); // a disc into the empty drive
    expect((await shell.check(readVolid('/dev/sr2'))).trim()).toBe('VMDESK_CD_B');
    expect(await shell.check('mount -t iso9660 -o ro /dev/sr2 /mnt && cat /mnt/hello.txt; umount /mnt')).toBe(
      'hello from VMDESK_CD_B',
    );
    await change('cd1', b); // A out, B in: the next read sees B, not A from the cache
    expect((await shell.check(readVolid('/dev/sr1'))).trim()).toBe('VMDESK_CD_B');
  });

  it('sets eth0 up for QEMU user networking; a listener typed on the shell answers a host forward', async () => {
    const port = await freePort();
    const { shell, serial } = await bootToShell([
      '-netdev',
      `user,id=net0,hostfwd=tcp:127.0.0.1:${port}-:8080`,
      '-device',
      'virtio-net-pci,netdev=net0,id=net0dev',
    ]);
    expect(serial.text()).toContain('VMDESK-GUEST-NET eth0 10.0.2.15/24 via 10.0.2.2');
    expect(await shell.check('ip -4 addr show dev eth0')).toContain('inet 10.0.2.15/24');
    expect(await shell.check('ip route')).toMatch(/^default via 10\.0\.2\.2 dev eth0/m);

    // The guest speaks first, then closes.
    await shell.check('nc -l -p 8080 -e echo hello-from-guest & vmdesk-wait tcp:8080');
    expect(await talkTcp(port)).toBe('hello-from-guest\n');
    // The guest answers a line the host sends.
    await shell.check(`nc -l -p 8080 -e sh -c 'read l; echo got-$l' & vmdesk-wait tcp:8080`);
    expect(await talkTcp(port, 'ping\n')).toBe('got-ping\n');
  });
});

describe('the guest shell through the vmdesk driver', () => {
  it('types on `vmdesk console`: the VM sees its disk and CD-ROM, and answers on its port forward', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.startDriver();
    const port = await freePort();
    await s.json([
      'define',
      ...['--name', 'shell', '--memory', '256M', '--cdrom', guestIso(), '--disk-size', '64M'],
      ...['--forward', `tcp:127.0.0.1:${port}:8080`],
    ]);
    await s.json(['start', 'shell']);
    const link = await attachVmdeskConsole(s, 'shell');
    cleanups.push(() => link.close());
    const shell = new GuestShell(link);
    await shell.ready(120_000);
    const blocks = (await shell.check('ls /sys/block')).split(/\s+/);
    expect(blocks).toEqual(expect.arrayContaining(['vda', 'sr0']));
    expect((await shell.check(readVolid('/dev/sr0'))).trim()).toBe('VMDESK_TESTGUEST');
    // The exit status comes back too.
    expect(await shell.run('ls /nonexistent')).toMatchObject({ status: 1 });
    await shell.check('nc -l -p 8080 -e echo hello-through-vmdesk & vmdesk-wait tcp:8080');
    expect(await talkTcp(port)).toBe('hello-through-vmdesk\n');
  });

  it('boots a VM defined with --firmware uefi, and its shell answers on `vmdesk console`', async () => {
    const s = new Sandbox();
    cleanups.push(() => s.cleanup());
    await s.startDriver();
    await s.json([
      'define',
      ...['--name', 'efi', '--memory', '256M', '--firmware', 'uefi', '--cdrom', guestIso(), '--disk-size', '32M'],
    ]);
    await s.json(['start', 'efi']);
    const link = await attachVmdeskConsole(s, 'efi');
    cleanups.push(() => link.close());
    const shell = new GuestShell(link);
    // A BIOS-only ISO fails here: OVMF finds nothing to boot on the disk or the CD and starts
    // its own shell instead.
    await shell.ready(120_000);
    expect(await shell.check('test -d /sys/firmware/efi && echo efi')).toBe('efi');
    expect((await shell.check('ls /sys/block')).split(/\s+/)).toEqual(expect.arrayContaining(['vda', 'sr0']));
  });
});
